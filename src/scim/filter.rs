//! SCIM filters (RFC 7644 §3.4.2.2): parsing with `scim_v2` and resolution against the
//! schema into a [`Cond`] that `store` renders as SQL on indexed columns. Also evaluates
//! value filters (`emails[type eq "work"]`) on values in memory, for PATCH paths.
//!
//! Which attributes can be filtered is listed in docs/scim.md; anything else is refused with
//! `invalidFilter` naming the attribute, never silently matched against nothing.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{self, ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use crate::store::sql::{Col, ColKind, Cond, Lit, Op, Sub};

/// The resource type a filter runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

/// Parses a filter string: length limit, two tolerated spellings normalised, then the
/// `scim_v2` grammar (which bounds depth and term count).
pub fn parse(raw: &str, max_len: usize) -> Result<Filter, ScimError> {
    if raw.len() > max_len {
        return Err(ScimError::invalid_filter(format!(
            "filter is {} bytes long; the limit is {max_len}",
            raw.len()
        )));
    }
    if raw.trim().is_empty() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    if let Some(f) = simple_comparison(raw) {
        return Ok(f);
    }
    let normalised = normalise(raw)?;
    normalised
        .parse::<Filter>()
        .map_err(|e| ScimError::invalid_filter(format!("cannot parse filter: {}", describe(&e))))
}

fn describe(e: &scim_v2::filter::ParseError) -> String {
    let s = e.to_string();
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s
                .char_indices()
                .take(300)
                .last()
                .map(|(i, _)| i)
                .unwrap_or(0)]
        )
    } else {
        s
    }
}

/// The IdPs' everyday lookup, `userName eq "x"`, parsed without the general parser: one
/// attribute (optionally `.sub`), one operator, one plain string. The general parser's
/// lexer costs about 100,000 instructions per filter; this costs a few hundred. Anything
/// else (URNs, escapes, keywords as names, logic, brackets) returns `None` and takes the
/// general path. A unit test checks both paths build the same tree.
pub(crate) fn simple_comparison(raw: &str) -> Option<Filter> {
    let s = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    let (path, rest) = s.split_once(|c: char| c.is_ascii_whitespace())?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (op, value) = rest.split_once(|c: char| c.is_ascii_whitespace())?;
    let value = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    if inner
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return None;
    }
    let op = match op.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    };
    let (name, sub) = match path.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (path, None),
    };
    let plain = |n: &str| {
        let mut chars = n.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && ![
                "and", "or", "not", "true", "false", "null", "eq", "ne", "co", "sw", "ew", "gt",
                "ge", "lt", "le", "pr",
            ]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(n))
    };
    if !plain(name) || sub.is_some_and(|s| !plain(s)) {
        return None;
    }
    Some(Filter::Attr(AttrExp::Comparison(
        AttrPath {
            uri: None,
            name: name.to_string(),
            sub_attr: sub.map(str::to_string),
        },
        op,
        CompValue::Str(inner.to_string()),
    )))
}

/// Two spellings real clients send that the RFC grammar does not cover:
/// - `not(`: the ABNF allows it; the parser wants `not (`.
/// - `emails[type eq "work"].value eq "x"` (Entra): a value path followed by a
///   sub-attribute comparison, rewritten as `emails[type eq "work" and value eq "x"]`.
fn normalise(raw: &str) -> Result<String, ScimError> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len() + 8);
    let mut i = 0;
    // Positions in `out` of the open brackets not yet closed.
    let mut open: Vec<usize> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                // Copy the string literal through, escapes included.
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if chars[i] == '"' {
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            '[' => {
                open.push(out.len());
                out.push(c);
                i += 1;
            }
            ']' => {
                let start = open.pop();
                i += 1;
                // `].sub op value` → fold the comparison into the brackets.
                if let (Some(start), Some('.')) = (start, chars.get(i)) {
                    let rest: String = chars[i + 1..].iter().collect();
                    if let Some((cmp, used)) = trailing_comparison(&rest) {
                        let inner = out[start + 1..].to_string();
                        out.truncate(start + 1);
                        out.push('(');
                        out.push_str(&inner);
                        out.push_str(") and ");
                        out.push_str(&cmp);
                        out.push(']');
                        i += 1 + rest[..used].chars().count();
                        continue;
                    }
                }
                out.push(']');
            }
            'n' | 'N' => {
                // Compared as characters: the next three may be multi-byte (`n€`).
                let word = &chars[i..(i + 4).min(chars.len())];
                let at_word_start = i == 0 || !is_name_char(chars[i - 1]);
                if at_word_start
                    && word.len() == 4
                    && word[1].eq_ignore_ascii_case(&'o')
                    && word[2].eq_ignore_ascii_case(&'t')
                    && word[3] == '('
                {
                    out.extend(&word[..3]);
                    out.push_str(" (");
                    i += 4;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '$')
}

/// Reads `sub op value` or `sub pr` from the start of `s`; returns it and bytes consumed.
fn trailing_comparison(s: &str) -> Option<(String, usize)> {
    let name_len = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))?;
    if name_len == 0 {
        return None;
    }
    let name = &s[..name_len];
    let after = &s[name_len..];
    let ws = after.len() - after.trim_start().len();
    if ws == 0 {
        return None;
    }
    let after_ws = &after[ws..];
    let op_len = after_ws.find(char::is_whitespace).unwrap_or(after_ws.len());
    let op = &after_ws[..op_len];
    let ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    if op.eq_ignore_ascii_case("pr") {
        let used = name_len + ws + op_len;
        return Some((format!("{name} pr"), used));
    }
    if !ops.iter().any(|o| o.eq_ignore_ascii_case(op)) {
        return None;
    }
    let rest = &after_ws[op_len..];
    let ws2 = rest.len() - rest.trim_start().len();
    let val = &rest[ws2..];
    let val_len = if val.starts_with('"') {
        let mut esc = false;
        let mut end = None;
        for (idx, ch) in val.char_indices().skip(1) {
            if esc {
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else if ch == '"' {
                end = Some(idx + 1);
                break;
            }
        }
        end?
    } else {
        val.find(|c: char| c.is_whitespace() || c == ')' || c == ']')
            .unwrap_or(val.len())
    };
    if val_len == 0 {
        return None;
    }
    let used = name_len + ws + op_len + ws2 + val_len;
    Some((format!("{name} {op} {}", &val[..val_len]), used))
}

// ---------------------------------------------------------------------------------------
// Resolution to SQL conditions
// ---------------------------------------------------------------------------------------

const fn text(expr: &'static str) -> Col {
    Col {
        expr,
        kind: ColKind::Text {
            case_exact: false,
            folded: None,
        },
    }
}

const fn exact(expr: &'static str) -> Col {
    Col {
        expr,
        kind: ColKind::Text {
            case_exact: true,
            folded: None,
        },
    }
}

const fn micros(expr: &'static str) -> Col {
    Col {
        expr,
        kind: ColKind::Micros,
    }
}

/// What a resolved attribute path refers to.
enum Target {
    /// A column of the resource row.
    Column(Col),
    /// A multi-valued attribute stored in a side table; `default` is the column compared
    /// when no sub-attribute is named (`emails co "x"` means `emails.value co "x"`).
    Multi { sub: Sub, default: Col },
    /// A column of a side table (`emails.type`).
    SubColumn { sub: Sub, col: Col },
}

const USER_MULTI: [&str; 7] = [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "entitlements",
    "roles",
    "x509Certificates",
];

fn values_col(sub_attr: &str) -> Option<Col> {
    let c = match sub_attr.to_ascii_lowercase().as_str() {
        "value" => Col {
            expr: "v.value",
            kind: ColKind::Text {
                case_exact: false,
                folded: Some("v.value_ci"),
            },
        },
        "type" => text("v.type"),
        "display" => text("v.display"),
        "primary" => Col {
            expr: "v.is_primary",
            kind: ColKind::Bool,
        },
        _ => return None,
    };
    Some(c)
}

fn user_column(name: &str, sub: Option<&str>, ext: bool) -> Option<Col> {
    let n = name.to_ascii_lowercase();
    let s = sub.map(str::to_ascii_lowercase);
    let col = match (ext, n.as_str(), s.as_deref()) {
        (false, "id", None) => exact("users.id"),
        (false, "externalid", None) => exact("users.external_id"),
        (false, "username", None) => Col {
            expr: "users.user_name",
            kind: ColKind::Text {
                case_exact: false,
                folded: Some("users.user_name_ci"),
            },
        },
        (false, "displayname", None) => text("users.display_name"),
        (false, "nickname", None) => text("users.nick_name"),
        (false, "title", None) => text("users.title"),
        (false, "usertype", None) => text("users.user_type"),
        (false, "preferredlanguage", None) => text("users.preferred_language"),
        (false, "locale", None) => text("users.locale"),
        (false, "timezone", None) => text("users.timezone"),
        (false, "profileurl", None) => exact("users.profile_url"),
        (false, "active", None) => Col {
            expr: "users.active",
            kind: ColKind::Bool,
        },
        (false, "name", Some("formatted")) => text("users.name_formatted"),
        (false, "name", Some("familyname")) => text("users.name_family"),
        (false, "name", Some("givenname")) => text("users.name_given"),
        (false, "name", Some("middlename")) => text("users.name_middle"),
        (false, "name", Some("honorificprefix")) => text("users.name_prefix"),
        (false, "name", Some("honorificsuffix")) => text("users.name_suffix"),
        (false, "meta", Some("created")) => micros("users.created_at"),
        (false, "meta", Some("lastmodified")) => micros("users.updated_at"),
        (true, "employeenumber", None) => text("users.employee_number"),
        (true, "costcenter", None) => text("users.cost_center"),
        (true, "organization", None) => text("users.organization"),
        (true, "division", None) => text("users.division"),
        (true, "department", None) => text("users.department"),
        (true, "manager", Some("value")) | (true, "manager", None) => exact("users.manager_id"),
        _ => return None,
    };
    Some(col)
}

fn resolve(resource: Resource, path: &AttrPath) -> Result<Target, ScimError> {
    let full = path_text(path);
    let unknown = || ScimError::invalid_filter(format!("attribute {full:?} cannot be filtered on"));
    let ext = match path.uri.as_deref() {
        None => false,
        Some(u) if resource == Resource::User && u.eq_ignore_ascii_case(USER_SCHEMA) => false,
        Some(u) if resource == Resource::Group && u.eq_ignore_ascii_case(GROUP_SCHEMA) => false,
        Some(u) if resource == Resource::User && u.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) => true,
        Some(_) => return Err(unknown()),
    };
    let sub = path.sub_attr.as_deref();
    match resource {
        Resource::User => {
            if !ext {
                if let Some(m) = USER_MULTI
                    .iter()
                    .find(|m| m.eq_ignore_ascii_case(&path.name))
                {
                    let s = Sub::UserValues(m);
                    return match sub {
                        None => Ok(Target::Multi {
                            sub: s,
                            default: values_col("value").ok_or_else(unknown)?,
                        }),
                        Some(sa) => Ok(Target::SubColumn {
                            sub: s,
                            col: values_col(sa).ok_or_else(unknown)?,
                        }),
                    };
                }
                if path.name.eq_ignore_ascii_case("groups") {
                    let col = match sub.map(str::to_ascii_lowercase).as_deref() {
                        None | Some("value") => exact("g.id"),
                        Some("display") => Col {
                            expr: "g.display_name",
                            kind: ColKind::Text {
                                case_exact: false,
                                folded: Some("g.display_name_ci"),
                            },
                        },
                        _ => return Err(unknown()),
                    };
                    return Ok(if sub.is_none() {
                        Target::Multi {
                            sub: Sub::UserGroups,
                            default: col,
                        }
                    } else {
                        Target::SubColumn {
                            sub: Sub::UserGroups,
                            col,
                        }
                    });
                }
            }
            user_column(&path.name, sub, ext)
                .map(Target::Column)
                .ok_or_else(unknown)
        }
        Resource::Group => {
            let n = path.name.to_ascii_lowercase();
            let s = sub.map(str::to_ascii_lowercase);
            let col = match (n.as_str(), s.as_deref()) {
                ("id", None) => exact("groups.id"),
                ("externalid", None) => exact("groups.external_id"),
                ("displayname", None) => Col {
                    expr: "groups.display_name",
                    kind: ColKind::Text {
                        case_exact: false,
                        folded: Some("groups.display_name_ci"),
                    },
                },
                ("meta", Some("created")) => micros("groups.created_at"),
                ("meta", Some("lastmodified")) => micros("groups.updated_at"),
                ("members", None) => {
                    return Ok(Target::Multi {
                        sub: Sub::GroupMembers,
                        default: exact("mu.id"),
                    })
                }
                ("members", Some("value")) => {
                    return Ok(Target::SubColumn {
                        sub: Sub::GroupMembers,
                        col: exact("mu.id"),
                    })
                }
                ("members", Some("display")) => {
                    return Ok(Target::SubColumn {
                        sub: Sub::GroupMembers,
                        col: text("mu.display_name"),
                    })
                }
                _ => return Err(unknown()),
            };
            Ok(Target::Column(col))
        }
    }
}

fn path_text(p: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(u) = &p.uri {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&p.name);
    if let Some(sa) = &p.sub_attr {
        s.push('.');
        s.push_str(sa);
    }
    s
}

/// Resolves a parsed filter into a SQL condition.
pub fn to_cond(resource: Resource, f: &Filter) -> Result<Cond, ScimError> {
    Ok(match f {
        Filter::Attr(e) => attr_exp(resource, e)?,
        Filter::Not(inner) => Cond::Not(Box::new(to_cond(resource, inner)?)),
        Filter::And(ops) => Cond::And(
            ops.as_slice()
                .iter()
                .map(|x| to_cond(resource, x))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(ops) => Cond::Or(
            ops.as_slice()
                .iter()
                .map(|x| to_cond(resource, x))
                .collect::<Result<_, _>>()?,
        ),
        Filter::ValuePath(vp) => {
            if vp.attr.sub_attr.is_some() {
                return Err(ScimError::invalid_filter(
                    "a value path names a multi-valued attribute, not a sub-attribute",
                ));
            }
            let sub = match resolve(resource, &vp.attr)? {
                Target::Multi { sub, .. } => sub,
                _ => {
                    return Err(ScimError::invalid_filter(format!(
                        "{} is not multi-valued; [..] filters apply to multi-valued attributes",
                        path_text(&vp.attr)
                    )))
                }
            };
            Cond::Exists(sub, Box::new(val_filter(resource, &vp.attr, &vp.filter)?))
        }
    })
}

/// Conditions inside `attr[...]`: each path is a sub-attribute of `parent`.
fn val_filter(resource: Resource, parent: &AttrPath, f: &ValFilter) -> Result<Cond, ScimError> {
    Ok(match f {
        ValFilter::Attr(e) => {
            let (path, rest) = match e {
                AttrExp::Present(p) => (p, None),
                AttrExp::Comparison(p, op, v) => (p, Some((op, v))),
            };
            if path.uri.is_some() || path.sub_attr.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "inside {}[...] name sub-attributes only, not {:?}",
                    parent.name,
                    path_text(path)
                )));
            }
            let full = AttrPath {
                uri: parent.uri.clone(),
                name: parent.name.clone(),
                sub_attr: Some(path.name.clone()),
            };
            let col = match resolve(resource, &full)? {
                Target::SubColumn { col, .. } => col,
                _ => return Err(ScimError::invalid_filter("invalid value path")),
            };
            match rest {
                None => Cond::Present(col),
                Some((op, v)) => comparison(col, op, v, &path_text(&full))?,
            }
        }
        ValFilter::Not(inner) => Cond::Not(Box::new(val_filter(resource, parent, inner)?)),
        ValFilter::And(ops) => Cond::And(
            ops.as_slice()
                .iter()
                .map(|x| val_filter(resource, parent, x))
                .collect::<Result<_, _>>()?,
        ),
        ValFilter::Or(ops) => Cond::Or(
            ops.as_slice()
                .iter()
                .map(|x| val_filter(resource, parent, x))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn attr_exp(resource: Resource, e: &AttrExp) -> Result<Cond, ScimError> {
    let (path, cmp) = match e {
        AttrExp::Present(p) => (p, None),
        AttrExp::Comparison(p, op, v) => (p, Some((op, v))),
    };
    let name = path_text(path);
    Ok(match (resolve(resource, path)?, cmp) {
        (Target::Column(col), None) => Cond::Present(col),
        (Target::Column(col), Some((op, v))) => comparison(col, op, v, &name)?,
        (Target::Multi { sub, default }, None)
        | (Target::SubColumn { sub, col: default }, None) => {
            Cond::Exists(sub, Box::new(Cond::Present(default)))
        }
        (Target::Multi { sub, default }, Some((op, v)))
        | (Target::SubColumn { sub, col: default }, Some((op, v))) => {
            Cond::Exists(sub, Box::new(comparison(default, op, v, &name)?))
        }
    })
}

fn comparison(col: Col, op: &CompareOp, v: &CompValue, name: &str) -> Result<Cond, ScimError> {
    let op = match op {
        CompareOp::Eq => Op::Eq,
        CompareOp::Ne => Op::Ne,
        CompareOp::Co => Op::Co,
        CompareOp::Sw => Op::Sw,
        CompareOp::Ew => Op::Ew,
        CompareOp::Gt => Op::Gt,
        CompareOp::Ge => Op::Ge,
        CompareOp::Lt => Op::Lt,
        CompareOp::Le => Op::Le,
    };
    // `x eq null` / `x ne null`: absence tests.
    if matches!(v, CompValue::Null) {
        return match op {
            Op::Eq => Ok(Cond::Not(Box::new(Cond::Present(col)))),
            Op::Ne => Ok(Cond::Present(col)),
            _ => Err(ScimError::invalid_filter(format!(
                "{name}: null can only be compared with eq or ne"
            ))),
        };
    }
    if let CompValue::Str(s) = v {
        // Stored values hold none (`resource::check_text`); PostgreSQL refuses a NUL.
        if s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(ScimError::invalid_filter(format!(
                "{name}: control characters cannot match any value"
            )));
        }
    }
    let lit = match (col.kind, v) {
        (ColKind::Text { .. }, CompValue::Str(s)) => Lit::Text(s.clone()),
        (ColKind::Text { .. }, _) => {
            return Err(ScimError::invalid_filter(format!(
                "{name} is a string; compare it with a quoted string"
            )))
        }
        (ColKind::Bool, CompValue::True) => Lit::Bool(true),
        (ColKind::Bool, CompValue::False) => Lit::Bool(false),
        (ColKind::Bool, CompValue::Str(s)) if s.eq_ignore_ascii_case("true") => Lit::Bool(true),
        (ColKind::Bool, CompValue::Str(s)) if s.eq_ignore_ascii_case("false") => Lit::Bool(false),
        (ColKind::Bool, _) => {
            return Err(ScimError::invalid_filter(format!(
                "{name} is a boolean; compare it with true or false"
            )))
        }
        (ColKind::Micros, CompValue::Str(s)) => {
            let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
                ScimError::invalid_filter(format!("{name}: {s:?} is not an RFC 3339 dateTime"))
            })?;
            Lit::Int(t.timestamp_micros())
        }
        (ColKind::Micros, _) => {
            return Err(ScimError::invalid_filter(format!(
                "{name} is a dateTime; compare it with a quoted RFC 3339 string"
            )))
        }
    };
    match (col.kind, op) {
        (ColKind::Bool, Op::Eq | Op::Ne) => {}
        (ColKind::Bool, _) => {
            return Err(ScimError::invalid_filter(format!(
                "{name} is a boolean; only eq, ne and pr apply"
            )))
        }
        (ColKind::Micros, Op::Co | Op::Sw | Op::Ew) => {
            return Err(ScimError::invalid_filter(format!(
                "{name} is a dateTime; co, sw and ew do not apply"
            )))
        }
        _ => {}
    }
    Ok(Cond::Cmp(col, op, lit))
}

/// The sort column for `sortBy`, when the attribute is single-valued and stored in a column.
pub fn sort_column(resource: Resource, raw: &str) -> Result<Col, ScimError> {
    let bad = || ScimError::invalid_value(format!("sortBy: {raw:?} is not a sortable attribute"));
    let path: scim_v2::filter::PatchPath = raw.trim().parse().map_err(|_| bad())?;
    let scim_v2::filter::PatchPath::Attr(p) = path else {
        return Err(bad());
    };
    match resolve(resource, &p).map_err(|_| bad())? {
        Target::Column(c) => Ok(c),
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------------------
// In-memory evaluation of value filters, for PATCH paths such as emails[type eq "work"]
// ---------------------------------------------------------------------------------------

/// Does one value of a multi-valued attribute match `f`? `subs` are the attribute's
/// sub-attribute definitions (for caseExact).
pub fn matches_value(
    f: &ValFilter,
    item: &Map<String, Value>,
    subs: &'static [schema::AttrDef],
) -> Result<bool, ScimError> {
    Ok(match f {
        ValFilter::Attr(AttrExp::Present(p)) => {
            lookup(item, &p.name).is_some_and(|v| !v.is_null() && v != "")
        }
        ValFilter::Attr(AttrExp::Comparison(p, op, cv)) => {
            let case_exact = schema::find(subs, &p.name).is_some_and(|d| d.case_exact);
            compare_json(lookup(item, &p.name), op, cv, case_exact)
        }
        ValFilter::Not(inner) => !matches_value(inner, item, subs)?,
        ValFilter::And(ops) => {
            for x in ops.as_slice() {
                if !matches_value(x, item, subs)? {
                    return Ok(false);
                }
            }
            true
        }
        ValFilter::Or(ops) => {
            for x in ops.as_slice() {
                if matches_value(x, item, subs)? {
                    return Ok(true);
                }
            }
            false
        }
    })
}

fn lookup<'a>(item: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    item.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn compare_json(
    actual: Option<&Value>,
    op: &CompareOp,
    expected: &CompValue,
    case_exact: bool,
) -> bool {
    use std::cmp::Ordering;
    let Some(actual) = actual else {
        return matches!((op, expected), (CompareOp::Eq, CompValue::Null))
            || matches!(op, CompareOp::Ne) && !matches!(expected, CompValue::Null);
    };
    match (actual, expected) {
        (Value::String(a), CompValue::Str(b)) => {
            let (a, b) = if case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a.cmp(&b) == Ordering::Greater,
                CompareOp::Ge => a.cmp(&b) != Ordering::Less,
                CompareOp::Lt => a.cmp(&b) == Ordering::Less,
                CompareOp::Le => a.cmp(&b) != Ordering::Greater,
            }
        }
        (Value::Bool(a), CompValue::True | CompValue::False) => {
            let b = matches!(expected, CompValue::True);
            match op {
                CompareOp::Eq => *a == b,
                CompareOp::Ne => *a != b,
                _ => false,
            }
        }
        (Value::Bool(a), CompValue::Str(s)) => {
            let b = s.eq_ignore_ascii_case("true");
            match op {
                CompareOp::Eq => *a == b,
                CompareOp::Ne => *a != b,
                _ => false,
            }
        }
        (_, CompValue::Null) => matches!(op, CompareOp::Ne),
        _ => matches!(op, CompareOp::Ne),
    }
}

/// For `emails[type eq "work"]` with no matching value: the attributes a new value must
/// carry, when the filter is a plain conjunction of equalities. `None` otherwise.
pub fn equalities(f: &ValFilter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    fn walk(f: &ValFilter, out: &mut Map<String, Value>) -> bool {
        match f {
            ValFilter::Attr(AttrExp::Comparison(p, CompareOp::Eq, v)) => {
                let v = match v {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::True => Value::Bool(true),
                    CompValue::False => Value::Bool(false),
                    _ => return false,
                };
                out.insert(p.name.clone(), v);
                true
            }
            ValFilter::And(ops) => ops.as_slice().iter().all(|x| walk(x, out)),
            _ => false,
        }
    }
    walk(f, &mut out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::Fragment;
    use crate::store::Backend;

    fn vf(s: &str) -> ValFilter {
        match format!("x[{s}]").parse::<scim_v2::filter::PatchPath>() {
            Ok(scim_v2::filter::PatchPath::Value(v)) => v.filter,
            other => panic!("not a value path: {other:?}"),
        }
    }

    fn sql(resource: Resource, f: &str) -> Result<String, ScimError> {
        let parsed = parse(f, 8192)?;
        let cond = to_cond(resource, &parsed)?;
        let mut frag = Fragment::new(Backend::Sqlite);
        frag.cond(&cond);
        Ok(frag.sql)
    }

    #[test]
    fn the_simple_comparison_path_builds_the_same_tree_as_the_parser() {
        let cases = [
            r#"userName eq "ada@example.com""#,
            r#"  UserName   EQ   "x"  "#,
            r#"name.familyName sw "O'Brien""#,
            r#"externalId ne """#,
            r#"displayName co "Team é""#,
            r#"title gt "a b c""#,
        ];
        for c in cases {
            let fast = simple_comparison(c).unwrap_or_else(|| panic!("fast path taken for {c}"));
            let full: Filter = c.trim().parse().expect("the parser accepts it");
            assert_eq!(fast, full, "{c}");
        }
        for c in [
            r#"userName eq "a\"b""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
            r#"userName eq "x" and active eq true"#,
            r#"emails[type eq "work"]"#,
            r#"not eq "x""#,
            r#"a.b.c eq "x""#,
            r#"userName eq x"#,
            r#"userName pr"#,
            "userName eq \"tab\there\"",
        ] {
            assert!(simple_comparison(c).is_none(), "{c}");
        }
    }

    #[test]
    fn precedence_is_or_of_ands() {
        let s = sql(
            Resource::User,
            r#"title pr and userName eq "a" or active eq true"#,
        )
        .unwrap();
        assert_eq!(
            s,
            "(((users.title IS NOT NULL AND users.title <> '') AND users.user_name_ci = ?) OR users.active = ?)"
        );
    }

    #[test]
    fn entra_value_path_with_trailing_sub_attribute_is_rewritten() {
        assert_eq!(
            normalise(r#"emails[type eq "work"].value eq "a]@x""#).unwrap(),
            r#"emails[(type eq "work") and value eq "a]@x"]"#
        );
        let s = sql(Resource::User, r#"emails[type eq "work"].value eq "ada@x""#).unwrap();
        assert!(s.starts_with("EXISTS (SELECT 1 FROM user_values v"), "{s}");
        assert!(s.contains("v.value_ci = ?"), "{s}");
    }

    #[test]
    fn not_without_space_and_case_insensitive_keywords_parse() {
        assert!(sql(Resource::User, r#"NOT(userName Eq "x") AND active EQ true"#).is_ok());
        assert_eq!(
            normalise("nothing eq \"not(\"").unwrap(),
            "nothing eq \"not(\""
        );
    }

    #[test]
    fn unknown_attributes_and_type_mismatches_are_invalid_filters() {
        for f in [
            r#"nope eq "x""#,
            r#"active eq "yes""#,
            r#"userName eq true"#,
            r#"active gt true"#,
            r#"meta.created gt "yesterday""#,
            r#"urn:x:y:z:attr eq "1""#,
            r#"userName eq "x" and"#,
            r#"((((userName eq "x""#,
        ] {
            let e = sql(Resource::User, f).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{f}: {e:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_quickly() {
        let deep = format!("{}userName pr{}", "(".repeat(5000), ")".repeat(5000));
        let e = parse(&deep, 1_000_000).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidFilter"));
    }

    #[test]
    fn value_filters_evaluate_in_memory_with_case_rules() {
        let f = vf(r#"type eq "WORK" and value co "@X""#);
        let item = serde_json::json!({"type": "work", "value": "a@x.com"});
        let subs = &schema::find(&schema::USER_ATTRS, "emails").unwrap().sub;
        assert!(matches_value(&f, item.as_object().unwrap(), subs).unwrap());
        assert_eq!(
            equalities(&vf(r#"type eq "work""#)).unwrap()["type"],
            "work"
        );
    }

    /// The copied columns are listed by hand in four places (the column list, the order of
    /// their binds, `user_columns` reading the document, and the filter's attribute map).
    /// Here a user document with a distinct value in every singular attribute goes through
    /// all four: each column must hold the value of the attribute that filters on it.
    #[test]
    fn every_copied_column_holds_the_attribute_that_filters_on_it() {
        use crate::store::users::COPY_COLUMNS;
        let mut doc = Map::new();
        let mut ext = Map::new();
        // (enterprise?, attribute, sub-attribute, value)
        let mut expected: Vec<(bool, &str, Option<&str>, Lit)> = Vec::new();
        let mut fill =
            |target: &mut Map<String, Value>, is_ext: bool, defs: &'static [schema::AttrDef]| {
                for def in defs.iter().filter(|d| !d.multi) {
                    match def.ty {
                        schema::AttrType::Complex => {
                            let mut inner = Map::new();
                            for sub in def.sub.iter().filter(|s| s.ty == schema::AttrType::String) {
                                let v = format!("v-{}.{}", def.name, sub.name);
                                inner.insert(sub.name.into(), serde_json::json!(v));
                                expected.push((
                                    is_ext,
                                    def.name,
                                    Some(sub.name),
                                    Lit::OptText(Some(v)),
                                ));
                            }
                            target.insert(def.name.into(), Value::Object(inner));
                        }
                        schema::AttrType::Boolean => {
                            target.insert(def.name.into(), serde_json::json!(false));
                            expected.push((is_ext, def.name, None, Lit::Bool(false)));
                        }
                        _ => {
                            let v = format!("v-{}", def.name);
                            target.insert(def.name.into(), serde_json::json!(v));
                            let lit = if def.name == "userName" {
                                Lit::Text(v)
                            } else {
                                Lit::OptText(Some(v))
                            };
                            expected.push((is_ext, def.name, None, lit));
                        }
                    }
                }
            };
        fill(&mut doc, false, &schema::COMMON_ATTRS);
        fill(&mut doc, false, &schema::USER_ATTRS);
        fill(&mut ext, true, &schema::ENTERPRISE_ATTRS);
        doc.insert(ENTERPRISE_SCHEMA.into(), Value::Object(ext));

        let (cols, _) = crate::service::directory::user_columns(&doc);
        let binds = cols.binds();
        let names: Vec<&str> = COPY_COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(binds.len(), names.len(), "one bind per copied column");
        let mut covered = std::collections::HashSet::new();
        for (is_ext, name, sub, value) in expected {
            let Some(col) = user_column(name, sub, is_ext) else {
                continue; // not filterable (password) or not a copy (id, meta)
            };
            let column = col.expr.strip_prefix("users.").expect("a users column");
            if ["id", "created_at", "updated_at"].contains(&column) {
                continue;
            }
            let at = names
                .iter()
                .position(|n| *n == column)
                .unwrap_or_else(|| panic!("{name}.{sub:?} filters on {column}, not copied"));
            assert_eq!(binds[at], value, "{column} holds {name}.{sub:?}");
            covered.insert(column);
        }
        let at = names.iter().position(|n| *n == "user_name_ci").unwrap();
        assert_eq!(binds[at], Lit::Text(crate::store::sql::fold("v-userName")));
        covered.insert("user_name_ci");
        let missing: Vec<&&str> = names.iter().filter(|n| !covered.contains(**n)).collect();
        assert!(
            missing.is_empty(),
            "copied columns no filter reads: {missing:?}"
        );
    }
}
