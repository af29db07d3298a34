fn main() {
    println!("cargo:rerun-if-changed=src/ldouble.c");
    cc::Build::new()
        .file("src/ldouble.c")
        .opt_level(2)
        .compile("spindle_ldouble");
}
