//! Typed access to the fields of one row; every mismatch becomes a [`RowError`].

use super::describe;
use crate::error::RowError;
use serde_json::{Map, Value};

/// The fields of one row, with the file and row number needed to report a bad value.
pub(crate) struct Fields<'a> {
    pub file: &'a str,
    pub row: usize,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn new(file: &'a str, row: usize, map: &'a Map<String, Value>) -> Self {
        Fields { file, row, map }
    }

    /// An error for `field` (a name or a path such as `conversation[2].role`).
    pub fn error(
        &self,
        field: &str,
        expected: impl Into<String>,
        found: Option<&Value>,
    ) -> RowError {
        RowError {
            file: self.file.to_string(),
            row: self.row,
            field: field.to_string(),
            expected: expected.into(),
            found: describe(found),
        }
    }

    /// The names of all fields, in the file's order.
    pub fn names(&self) -> impl Iterator<Item = &'a String> {
        self.map.keys()
    }

    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field)
    }

    /// A required string.
    pub fn string(&self, field: &str) -> Result<&'a str, RowError> {
        self.get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| self.error(field, "a string", self.get(field)))
    }

    /// A string, or `None` when the field is null or absent.
    pub fn optional_string(&self, field: &str) -> Result<Option<&'a str>, RowError> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            other => Err(self.error(field, "a string or null", other)),
        }
    }

    /// A required string that must be one of `options` (compared ignoring case and surrounding
    /// whitespace).
    pub fn choice<T: Copy>(&self, field: &str, options: &[(&str, T)]) -> Result<T, RowError> {
        self.optional_choice(field, options)?
            .ok_or_else(|| self.error(field, expected_choice(options), self.get(field)))
    }

    /// Like [`Fields::choice`], but null or absent gives `None`.
    pub fn optional_choice<T: Copy>(
        &self,
        field: &str,
        options: &[(&str, T)],
    ) -> Result<Option<T>, RowError> {
        match self.optional_string(field) {
            Ok(None) => Ok(None),
            Ok(Some(text)) => find_choice(text, options)
                .map(Some)
                .ok_or_else(|| self.error(field, expected_choice(options), self.get(field))),
            Err(_) => Err(self.error(
                field,
                format!("{} or null", expected_choice(options)),
                self.get(field),
            )),
        }
    }

    /// A 0/1 flag (number, boolean or "0"/"1" text); `None` when null or absent.
    pub fn flag(&self, field: &str) -> Result<Option<bool>, RowError> {
        let value = self.get(field);
        let flag = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => {
                n.as_f64().filter(|x| *x == 0.0 || *x == 1.0).map(|x| x == 1.0)
            }
            Some(Value::String(s)) => match s.trim() {
                "0" => Some(false),
                "1" => Some(true),
                _ => None,
            },
            Some(_) => None,
        };
        flag.map(Some).ok_or_else(|| self.error(field, "0, 1 or null", value))
    }

    /// A required list.
    pub fn list(&self, field: &str) -> Result<&'a Vec<Value>, RowError> {
        self.get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| self.error(field, "a list", self.get(field)))
    }

    /// An id: a string or an integer, or `None` when null or absent.
    pub fn optional_id(&self, field: &str) -> Result<Option<String>, RowError> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(id)) => Ok(Some(id.clone())),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            other => Err(self.error(field, "a string or integer id", other)),
        }
    }
}

/// The option matching `text`, ignoring case and surrounding whitespace.
pub(crate) fn find_choice<T: Copy>(text: &str, options: &[(&str, T)]) -> Option<T> {
    let text = text.trim();
    options.iter().find(|(name, _)| text.eq_ignore_ascii_case(name)).map(|(_, value)| *value)
}

fn expected_choice<T>(options: &[(&str, T)]) -> String {
    let names: Vec<String> = options.iter().map(|(name, _)| format!("{name:?}")).collect();
    match names.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
