//! The Jinja environment `transformers` gives chat templates, rebuilt on minijinja: block
//! trimming, loop controls, Python string/dict methods, and the globals and filters HF templates
//! call (`raise_exception`, `strftime_now`, `tojson`).

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, Value};
use serde::Serialize;

/// The date `strftime_now` reports. Templates (Llama 3.2, for example) put "today" into the
/// system block; a fixed date keeps rendered data and its hash identical on every day. It is the
/// date Llama 3.1's own template defaults to.
const FIXED_DATE: (i32, u32, u32) = (2024, 7, 26);
const FIXED_WEEKDAY: &str = "Friday";

/// Configures `env` like `transformers`' `_compile_jinja_template`: `trim_blocks` and
/// `lstrip_blocks` on, Python methods on values, and the extra globals and filters.
pub(crate) fn configure_like_transformers(env: &mut Environment<'static>) {
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
}

/// `raise_exception(message)`: templates call it to reject a conversation they cannot format.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, format!("the template raised: {message}")))
}

/// `strftime_now(format)` for the fixed date (midnight), supporting the directives templates use.
fn strftime_now(format: String) -> Result<Value, Error> {
    let (year, month, day) = FIXED_DATE;
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month_name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut directive = chars.next().unwrap_or('%');
        let unpadded = directive == '-';
        if unpadded {
            directive = chars.next().unwrap_or('-');
        }
        let piece = match (directive, unpadded) {
            ('d', false) => format!("{day:02}"),
            ('d', true) => day.to_string(),
            ('m', false) => format!("{month:02}"),
            ('m', true) => month.to_string(),
            ('Y', _) => year.to_string(),
            ('y', _) => format!("{:02}", year % 100),
            ('b', _) => month_name[..3].to_string(),
            ('B', _) => month_name.to_string(),
            ('a', _) => FIXED_WEEKDAY[..3].to_string(),
            ('A', _) => FIXED_WEEKDAY.to_string(),
            ('H' | 'M' | 'S', false) => "00".to_string(),
            ('%', false) => "%".to_string(),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "strftime_now: unsupported directive %{}{directive}",
                        if unpadded { "-" } else { "" }
                    ),
                ))
            }
        };
        out.push_str(&piece);
    }
    Ok(Value::from(out))
}

/// `tojson` as `transformers` defines it: `json.dumps(value, ensure_ascii=False, indent=indent)`,
/// so Python's separators (`", "` and `": "`) and no HTML escaping (minijinja's own `tojson`
/// escapes `<`, `>`, `&` and `'`, which would change the rendered text).
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    let result = match indent {
        Some(width) => {
            let spaces = vec![b' '; width];
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&spaces);
            value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, formatter))
        }
        None => {
            value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, PythonCompact))
        }
    };
    result.map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))?;
    let text = String::from_utf8(out)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))?;
    Ok(Value::from_safe_string(text))
}

/// `json.dumps` default separators: `", "` between items, `": "` after keys.
struct PythonCompact;

impl serde_json::ser::Formatter for PythonCompact {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

fn item_separator<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}
