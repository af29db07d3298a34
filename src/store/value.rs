//! What a key holds.

use super::hash::Hash;
use super::list::List;

/// A key's value. A string or a packed hash sits inline; a list's deque of nodes is boxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(Vec<u8>),
    List(Box<List>),
    Hash(Hash),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
        }
    }
}

impl Value {
    pub fn as_str(&self) -> Result<&[u8], WrongType> {
        match self {
            Value::Str(s) => Ok(s),
            _ => Err(WrongType),
        }
    }

    pub fn as_str_mut(&mut self) -> Result<&mut Vec<u8>, WrongType> {
        match self {
            Value::Str(s) => Ok(s),
            _ => Err(WrongType),
        }
    }

    pub fn as_list(&self) -> Result<&List, WrongType> {
        match self {
            Value::List(l) => Ok(l),
            _ => Err(WrongType),
        }
    }

    pub fn as_list_mut(&mut self) -> Result<&mut List, WrongType> {
        match self {
            Value::List(l) => Ok(l),
            _ => Err(WrongType),
        }
    }

    pub fn as_hash(&self) -> Result<&Hash, WrongType> {
        match self {
            Value::Hash(h) => Ok(h),
            _ => Err(WrongType),
        }
    }

    pub fn as_hash_mut(&mut self) -> Result<&mut Hash, WrongType> {
        match self {
            Value::Hash(h) => Ok(h),
            _ => Err(WrongType),
        }
    }

    /// A list or hash with nothing in it (such a key must not exist).
    pub fn is_empty_container(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
        }
    }
}

/// A command met a key holding another type (Redis's `-WRONGTYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;
