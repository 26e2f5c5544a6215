//! FT.AGGREGATE's expressions (APPLY, FILTER): numbers, 'strings', `@property`, arithmetic
//! (`+ - * / % ^`), comparisons (`== != < <= > >=`), `&& || !`, parentheses and the functions
//! `upper lower strlen substr floor ceil abs sqrt log log2 log10 exp`. A property that is
//! missing, or arithmetic on what is not a number, gives nil.

use std::collections::HashMap;

/// A value in an aggregation row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Missing.
    Null,
    /// A number.
    Num(f64),
    /// Text.
    Str(String),
    /// TOLIST's result.
    List(Vec<Value>),
}

impl Value {
    /// The value as a number, if it is one or a string that parses as one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
    }

    /// The value as RediSearch prints it.
    pub fn text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Num(n) => crate::reply::fmt_num(*n),
            Value::Str(s) => s.clone(),
            Value::List(items) => items.iter().map(Value::text).collect::<Vec<_>>().join(","),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal.
    Lit(Value),
    /// `@name`.
    Prop(String),
    /// A binary operator.
    Bin(String, Box<Expr>, Box<Expr>),
    /// `-x` or `!x`.
    Un(char, Box<Expr>),
    /// `f(args)`.
    Call(String, Vec<Expr>),
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

/// Parses an expression; the error is RediSearch-style text.
pub fn parse(src: &str) -> Result<Expr, String> {
    let mut p = P {
        s: src.as_bytes(),
        i: 0,
    };
    let e = p.or()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!(
            "Syntax error at offset {} near {}",
            p.i,
            &src[p.i..]
        ));
    }
    Ok(e)
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn err(&self) -> String {
        format!(
            "Syntax error at offset {} near {}",
            self.i,
            String::from_utf8_lossy(&self.s[self.i.min(self.s.len())..])
        )
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.eat("||") {
            l = Expr::Bin("||".into(), Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.cmp()?;
        while self.eat("&&") {
            l = Expr::Bin("&&".into(), Box::new(l), Box::new(self.cmp()?));
        }
        Ok(l)
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.add()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.eat(op) {
                return Ok(Expr::Bin(op.into(), Box::new(l), Box::new(self.add()?)));
            }
        }
        Ok(l)
    }

    fn add(&mut self) -> Result<Expr, String> {
        let mut l = self.mul()?;
        loop {
            if self.eat("+") {
                l = Expr::Bin("+".into(), Box::new(l), Box::new(self.mul()?));
            } else if self.eat("-") {
                l = Expr::Bin("-".into(), Box::new(l), Box::new(self.mul()?));
            } else {
                return Ok(l);
            }
        }
    }

    fn mul(&mut self) -> Result<Expr, String> {
        let mut l = self.pow()?;
        loop {
            let op = if self.eat("*") {
                "*"
            } else if self.eat("/") {
                "/"
            } else if self.eat("%") {
                "%"
            } else {
                return Ok(l);
            };
            l = Expr::Bin(op.into(), Box::new(l), Box::new(self.pow()?));
        }
    }

    fn pow(&mut self) -> Result<Expr, String> {
        let l = self.unary()?;
        if self.eat("^") {
            return Ok(Expr::Bin("^".into(), Box::new(l), Box::new(self.pow()?)));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("-") {
            return Ok(Expr::Un('-', Box::new(self.unary()?)));
        }
        if self.eat("!") {
            return Ok(Expr::Un('!', Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric()
                || self.s[self.i] == b'_'
                || self.s[self.i] >= 0x80)
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.err());
        };
        if c == b'(' {
            self.i += 1;
            let e = self.or()?;
            if !self.eat(")") {
                return Err(self.err());
            }
            return Ok(e);
        }
        if c == b'@' {
            self.i += 1;
            let name = self.ident();
            if name.is_empty() {
                return Err(self.err());
            }
            return Ok(Expr::Prop(name));
        }
        if c == b'"' || c == b'\'' {
            self.i += 1;
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != c {
                self.i += 1;
            }
            if self.i >= self.s.len() {
                return Err(self.err());
            }
            let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            self.i += 1;
            return Ok(Expr::Lit(Value::Str(s)));
        }
        if c.is_ascii_digit() || c == b'.' {
            let start = self.i;
            while self.i < self.s.len()
                && (self.s[self.i].is_ascii_digit() || matches!(self.s[self.i], b'.' | b'e' | b'E'))
            {
                self.i += 1;
            }
            let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            return text
                .parse::<f64>()
                .map(|n| Expr::Lit(Value::Num(n)))
                .map_err(|_| self.err());
        }
        let name = self.ident();
        if name.is_empty() || !self.eat("(") {
            return Err(self.err());
        }
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                args.push(self.or()?);
                if self.eat(")") {
                    break;
                }
                if !self.eat(",") {
                    return Err(self.err());
                }
            }
        }
        Ok(Expr::Call(name.to_lowercase(), args))
    }
}

/// Evaluates `e` over a row.
pub fn eval(e: &Expr, row: &HashMap<String, Value>) -> Value {
    match e {
        Expr::Lit(v) => v.clone(),
        Expr::Prop(name) => row.get(name).cloned().unwrap_or(Value::Null),
        Expr::Un('-', x) => eval(x, row).num().map_or(Value::Null, |n| Value::Num(-n)),
        Expr::Un(_, x) => Value::Num(f64::from(u8::from(!eval(x, row).truthy()))),
        Expr::Bin(op, l, r) => {
            let (a, b) = (eval(l, row), eval(r, row));
            let bool_num = |v: bool| Value::Num(f64::from(u8::from(v)));
            match op.as_str() {
                "&&" => bool_num(a.truthy() && b.truthy()),
                "||" => bool_num(a.truthy() || b.truthy()),
                "==" | "!=" | "<" | "<=" | ">" | ">=" => {
                    let ord = match (a.num(), b.num()) {
                        (Some(x), Some(y)) => x.partial_cmp(&y),
                        _ => Some(a.text().cmp(&b.text())),
                    };
                    let Some(ord) = ord else {
                        return bool_num(false);
                    };
                    use std::cmp::Ordering::*;
                    bool_num(match op.as_str() {
                        "==" => ord == Equal,
                        "!=" => ord != Equal,
                        "<" => ord == Less,
                        "<=" => ord != Greater,
                        ">" => ord == Greater,
                        _ => ord != Less,
                    })
                }
                _ => match (a.num(), b.num()) {
                    (Some(x), Some(y)) => Value::Num(match op.as_str() {
                        "+" => x + y,
                        "-" => x - y,
                        "*" => x * y,
                        "/" => x / y,
                        "%" => (x as i64)
                            .checked_rem(y as i64)
                            .map_or(f64::NAN, |r| r as f64),
                        _ => x.powf(y),
                    }),
                    _ => Value::Null,
                },
            }
        }
        Expr::Call(f, args) => {
            let vals: Vec<Value> = args.iter().map(|a| eval(a, row)).collect();
            let num1 = |g: fn(f64) -> f64| {
                vals.first()
                    .and_then(Value::num)
                    .map_or(Value::Null, |n| Value::Num(g(n)))
            };
            match f.as_str() {
                "upper" => vals
                    .first()
                    .map_or(Value::Null, |v| Value::Str(v.text().to_uppercase())),
                "lower" => vals
                    .first()
                    .map_or(Value::Null, |v| Value::Str(v.text().to_lowercase())),
                "strlen" => vals
                    .first()
                    .map_or(Value::Null, |v| Value::Num(v.text().chars().count() as f64)),
                "substr" => {
                    let s: Vec<char> = vals
                        .first()
                        .map(Value::text)
                        .unwrap_or_default()
                        .chars()
                        .collect();
                    let off = vals.get(1).and_then(Value::num).unwrap_or(0.0).max(0.0) as usize;
                    let len = vals.get(2).and_then(Value::num).map_or(s.len(), |l| {
                        if l < 0.0 {
                            s.len()
                        } else {
                            l as usize
                        }
                    });
                    Value::Str(s.iter().skip(off).take(len).collect())
                }
                "floor" => num1(f64::floor),
                "ceil" => num1(f64::ceil),
                "abs" => num1(f64::abs),
                "sqrt" => num1(f64::sqrt),
                "log" => num1(f64::ln),
                "log2" => num1(f64::log2),
                "log10" => num1(f64::log10),
                "exp" => num1(f64::exp),
                "exists" => Value::Num(f64::from(u8::from(
                    vals.first().is_some_and(|v| *v != Value::Null),
                ))),
                "contains" => match (vals.first(), vals.get(1)) {
                    (Some(a), Some(b)) if !b.text().is_empty() => {
                        Value::Num(a.text().matches(&b.text()).count() as f64)
                    }
                    _ => Value::Num(0.0),
                },
                "startswith" => match (vals.first(), vals.get(1)) {
                    (Some(a), Some(b)) => {
                        Value::Num(f64::from(u8::from(a.text().starts_with(&b.text()))))
                    }
                    _ => Value::Null,
                },
                "minute" | "hour" | "day" | "dayofweek" | "dayofmonth" | "dayofyear" | "month"
                | "monthofyear" | "year" => vals
                    .first()
                    .and_then(Value::num)
                    .map_or(Value::Null, |ts| Value::Num(time_fn(f, ts))),
                _ => Value::Null,
            }
        }
    }
}

/// Whether `e` names only known functions (checked when the query is read).
pub fn check(e: &Expr) -> Result<(), String> {
    const FUNCS: &[&str] = &[
        "upper", "lower", "strlen", "substr", "floor", "ceil", "abs", "sqrt", "log", "log2",
        "log10", "exp",
    ];
    match e {
        Expr::Call(f, args) => {
            if !FUNCS.contains(&f.as_str()) {
                return Err(format!("Unknown function name '{f}'"));
            }
            args.iter().try_for_each(check)
        }
        Expr::Bin(_, l, r) => check(l).and(check(r)),
        Expr::Un(_, x) => check(x),
        _ => Ok(()),
    }
}

/// (year, month 1-12, day 1-31) of a count of days since 1970-01-01 (Howard Hinnant's
/// civil-from-days).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date (Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RediSearch's time functions over a Unix timestamp in seconds (UTC): `minute`, `hour`,
/// `day`, `month` and `year` round down to the start of that period (a timestamp);
/// `dayofweek` (0 = Sunday), `dayofmonth`, `dayofyear` (0-based), `monthofyear` (0-based)
/// and, for `year` as RediSearch has it, the year number.
fn time_fn(f: &str, ts: f64) -> f64 {
    let t = ts.floor() as i64;
    let days = t.div_euclid(86_400);
    let (y, m, d) = civil(days);
    (match f {
        "minute" => t - t.rem_euclid(60),
        "hour" => t - t.rem_euclid(3600),
        "day" => days * 86_400,
        "dayofweek" => (days + 4).rem_euclid(7),
        "dayofmonth" => d,
        "dayofyear" => days - days_from_civil(y, 1, 1),
        "month" => days_from_civil(y, m, 1) * 86_400,
        "monthofyear" => m - 1,
        _ => y,
    }) as f64
}

/// Whether the row passes the FILTER expression.
pub fn passes(e: &Expr, row: &HashMap<String, Value>) -> bool {
    eval(e, row).truthy()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(src: &str, row: &[(&str, Value)]) -> Value {
        let row: HashMap<String, Value> = row
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        eval(&parse(src).unwrap(), &row)
    }

    #[test]
    fn arithmetic_and_functions() {
        assert_eq!(ev("1 + 2 * 3", &[]), Value::Num(7.0));
        assert_eq!(ev("(1 + 2) * 3", &[]), Value::Num(9.0));
        assert_eq!(ev("2 ^ 3 ^ 2", &[]), Value::Num(512.0));
        assert_eq!(
            ev("@price * 2", &[("price", Value::Str("10".into()))]),
            Value::Num(20.0)
        );
        assert_eq!(
            ev("upper(@name)", &[("name", Value::Str("bob".into()))]),
            Value::Str("BOB".into())
        );
        assert_eq!(
            ev("floor(@x / 10) * 10", &[("x", Value::Num(37.0))]),
            Value::Num(30.0)
        );
        assert_eq!(ev("@missing + 1", &[]), Value::Null);
        assert_eq!(ev("substr('hello', 1, 3)", &[]), Value::Str("ell".into()));
    }

    #[test]
    fn time_functions() {
        // 2023-03-15 13:45:30 UTC, a Wednesday.
        let ts = [("t", Value::Num(1_678_887_930.0))];
        for (f, want) in [
            ("day", 1_678_838_400.0),
            ("hour", 1_678_885_200.0),
            ("minute", 1_678_887_900.0),
            ("month", 1_677_628_800.0),
            ("dayofweek", 3.0),
            ("dayofmonth", 15.0),
            ("dayofyear", 73.0),
            ("monthofyear", 2.0),
            ("year", 2023.0),
        ] {
            assert_eq!(ev(&format!("{f}(@t)"), &ts), Value::Num(want), "{f}");
        }
        assert_eq!(ev("contains('banana', 'an')", &[]), Value::Num(2.0));
        assert_eq!(ev("exists(@nope)", &[]), Value::Num(0.0));
    }

    #[test]
    fn comparisons_and_logic() {
        assert_eq!(
            ev("@a > 3 && @a < 10", &[("a", Value::Num(5.0))]),
            Value::Num(1.0)
        );
        assert_eq!(
            ev("@s == 'x' || !1", &[("s", Value::Str("y".into()))]),
            Value::Num(0.0)
        );
        assert!(parse("1 +").is_err());
        assert!(check(&parse("nope(1)").unwrap()).is_err());
    }
}
