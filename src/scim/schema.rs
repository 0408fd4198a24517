//! The SCIM schemas hubbridge supports, as data: RFC 7643 §4.1 User, §4.3 enterprise User
//! extension, §4.2 Group. The same tables drive input validation (case-insensitive names,
//! types, mutability), filtering (`caseExact`), projection and the `/Schemas` endpoint,
//! so what the discovery endpoints describe is exactly what the server does.

use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub use crate::service::directory::ENTERPRISE_SCHEMA;
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
}

/// One attribute (or sub-attribute) definition.
#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [AttrDef],
    pub description: &'static str,
}

impl AttrDef {
    pub fn sub_attr(&self, name: &str) -> Option<&'static AttrDef> {
        find(self.sub, name)
    }
}

/// Finds an attribute by name, ignoring case (RFC 7643 §2.1).
pub fn find(defs: &'static [AttrDef], name: &str) -> Option<&'static AttrDef> {
    defs.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

const fn base(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

const fn s(name: &'static str, description: &'static str) -> AttrDef {
    base(name, AttrType::String, description)
}

const fn complex(name: &'static str, sub: &'static [AttrDef], d: &'static str) -> AttrDef {
    AttrDef {
        sub,
        ..base(name, AttrType::Complex, d)
    }
}

const fn multi(name: &'static str, sub: &'static [AttrDef], d: &'static str) -> AttrDef {
    AttrDef {
        multi: true,
        sub,
        ..base(name, AttrType::Complex, d)
    }
}

/// The usual sub-attributes of a multi-valued attribute (value, display, type, primary).
macro_rules! mv_subs {
    ($value_ty:expr, [$($canon:expr),*]) => {
        &[
            base("value", $value_ty, "The attribute's value."),
            s("display", "A human-readable name, primarily used for display purposes."),
            AttrDef { canonical: &[$($canon),*], ..s("type", "A label indicating the attribute's function.") },
            base("primary", AttrType::Boolean, "Whether this is the primary value; at most one value is primary."),
        ]
    };
}

pub static NAME_SUBS: [AttrDef; 6] = [
    s("formatted", "The full name, formatted for display."),
    s("familyName", "The family name (last name)."),
    s("givenName", "The given name (first name)."),
    s("middleName", "The middle name(s)."),
    s("honorificPrefix", "The honorific prefix(es), e.g. 'Ms.'."),
    s("honorificSuffix", "The honorific suffix(es), e.g. 'III'."),
];

pub static ADDRESS_SUBS: [AttrDef; 9] = [
    s(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    s("streetAddress", "The full street address."),
    s("locality", "The city or locality."),
    s("region", "The state or region."),
    s("postalCode", "The zip code or postal code."),
    s("country", "The country name (ISO 3166-1 alpha-2)."),
    AttrDef {
        canonical: &["work", "home", "other"],
        ..s("type", "A label indicating the address's function.")
    },
    base(
        "primary",
        AttrType::Boolean,
        "Whether this is the primary address.",
    ),
    s("display", "A human-readable name."),
];

pub static USER_ATTRS: [AttrDef; 21] = [
    AttrDef {
        required: true,
        unique: true,
        ..s(
            "userName",
            "Unique identifier for the user, typically used to sign in. Unique case-insensitively.",
        )
    },
    complex("name", &NAME_SUBS, "The components of the user's name."),
    s("displayName", "The name of the user, suitable for display."),
    s("nickName", "The casual way to address the user."),
    base(
        "profileUrl",
        AttrType::Reference,
        "A URI of the user's online profile.",
    ),
    s("title", "The user's title, such as 'Vice President'."),
    s(
        "userType",
        "The relationship between the organization and the user.",
    ),
    s(
        "preferredLanguage",
        "The user's preferred written or spoken language.",
    ),
    s("locale", "The user's default location for localization."),
    s("timezone", "The user's time zone in IANA format."),
    base(
        "active",
        AttrType::Boolean,
        "The user's administrative status. Inactive users stay readable.",
    ),
    AttrDef {
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        case_exact: true,
        ..s(
            "password",
            "Accepted for compatibility and discarded: hubbridge never stores passwords.",
        )
    },
    multi(
        "emails",
        mv_subs!(AttrType::String, ["work", "home", "other"]),
        "Email addresses for the user.",
    ),
    multi(
        "phoneNumbers",
        mv_subs!(
            AttrType::String,
            ["work", "home", "mobile", "fax", "pager", "other"]
        ),
        "Phone numbers for the user.",
    ),
    multi(
        "ims",
        mv_subs!(
            AttrType::String,
            ["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
        ),
        "Instant messaging addresses for the user.",
    ),
    multi(
        "photos",
        mv_subs!(AttrType::Reference, ["photo", "thumbnail"]),
        "URLs of photos of the user.",
    ),
    AttrDef {
        multi: true,
        ..complex("addresses", &ADDRESS_SUBS, "Physical mailing addresses.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..multi(
            "groups",
            &GROUPS_SUBS,
            "Groups the user belongs to (read-only; change membership through Group resources).",
        )
    },
    multi(
        "entitlements",
        mv_subs!(AttrType::String, []),
        "Entitlements of the user.",
    ),
    multi(
        "roles",
        mv_subs!(AttrType::String, []),
        "Roles of the user.",
    ),
    multi(
        "x509Certificates",
        mv_subs!(AttrType::Binary, []),
        "X.509 certificates of the user (base64 DER).",
    ),
];

pub static GROUPS_SUBS: [AttrDef; 4] = [
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..s("value", "The id of the group.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        reference_types: &["Group"],
        ..base("$ref", AttrType::Reference, "The URI of the group.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..s("display", "The group's displayName.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        canonical: &["direct"],
        ..s("type", "Always 'direct': nested groups are not supported.")
    },
];

pub static MANAGER_SUBS: [AttrDef; 3] = [
    s(
        "value",
        "The id of the user's manager (a bare id string is accepted too).",
    ),
    AttrDef {
        reference_types: &["User"],
        ..base("$ref", AttrType::Reference, "The URI of the manager.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..s("displayName", "The manager's displayName.")
    },
];

pub static ENTERPRISE_ATTRS: [AttrDef; 6] = [
    s(
        "employeeNumber",
        "Numeric or alphanumeric identifier of the user.",
    ),
    s("costCenter", "The name of a cost center."),
    s("organization", "The name of an organization."),
    s("division", "The name of a division."),
    s("department", "The name of a department."),
    complex("manager", &MANAGER_SUBS, "The user's manager."),
];

pub static MEMBER_SUBS: [AttrDef; 4] = [
    AttrDef {
        mutability: Mutability::Immutable,
        ..s("value", "The id of a member User.")
    },
    AttrDef {
        mutability: Mutability::Immutable,
        reference_types: &["User"],
        ..base("$ref", AttrType::Reference, "The URI of the member.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..s("display", "The member's displayName (or userName).")
    },
    AttrDef {
        mutability: Mutability::Immutable,
        canonical: &["User"],
        ..s(
            "type",
            "Always 'User': nested groups are refused with invalidValue.",
        )
    },
];

pub static GROUP_ATTRS: [AttrDef; 2] = [
    AttrDef {
        required: true,
        unique: true,
        ..s(
            "displayName",
            "A human-readable name for the group. Unique case-insensitively.",
        )
    },
    multi(
        "members",
        &MEMBER_SUBS,
        "The members of the group (users only).",
    ),
];

/// `id`, `externalId` and `meta` are common to every resource (RFC 7643 §3.1).
pub static COMMON_ATTRS: [AttrDef; 2] = [
    AttrDef {
        mutability: Mutability::ReadOnly,
        returned: Returned::Always,
        case_exact: true,
        unique: true,
        ..s("id", "Unique identifier assigned by hubbridge.")
    },
    AttrDef {
        case_exact: true,
        ..s(
            "externalId",
            "Identifier assigned by the provisioning client.",
        )
    },
];

fn attr_json(d: &AttrDef) -> Value {
    let ty = match d.ty {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::DateTime => "dateTime",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
        AttrType::Binary => "binary",
    };
    let mutability = match d.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    };
    let returned = match d.returned {
        Returned::Always => "always",
        Returned::Never => "never",
        Returned::Default => "default",
    };
    let mut v = json!({
        "name": d.name,
        "type": ty,
        "multiValued": d.multi,
        "description": d.description,
        "required": d.required,
        "caseExact": d.case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": if d.unique { "server" } else { "none" },
    });
    if !d.canonical.is_empty() {
        v["canonicalValues"] = json!(d.canonical);
    }
    if d.ty == AttrType::Reference {
        let types: Vec<&str> = if d.reference_types.is_empty() {
            vec!["external"]
        } else {
            d.reference_types.to_vec()
        };
        v["referenceTypes"] = json!(types);
    }
    if !d.sub.is_empty() {
        v["subAttributes"] = Value::Array(d.sub.iter().map(attr_json).collect());
    }
    v
}

fn schema_json(
    id: &str,
    name: &str,
    description: &str,
    attrs: &[AttrDef],
    base_url: &str,
) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base_url}/Schemas/{id}"),
        }
    })
}

/// Every schema, as `/Schemas` returns them.
pub fn all_schemas(base_url: &str) -> Vec<Value> {
    vec![
        schema_json(USER_SCHEMA, "User", "User Account", &USER_ATTRS, base_url),
        schema_json(
            ENTERPRISE_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            &ENTERPRISE_ATTRS,
            base_url,
        ),
        schema_json(GROUP_SCHEMA, "Group", "Group", &GROUP_ATTRS, base_url),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_lookup_ignores_case() {
        assert_eq!(
            find(&USER_ATTRS, "USERNAME").map(|d| d.name),
            Some("userName")
        );
        assert_eq!(
            find(&USER_ATTRS, "emails")
                .and_then(|d| d.sub_attr("Primary"))
                .map(|d| d.ty),
            Some(AttrType::Boolean)
        );
        assert!(find(&USER_ATTRS, "nope").is_none());
    }

    #[test]
    fn schemas_describe_password_as_never_returned() {
        let all = all_schemas("http://x/scim/v2");
        let user = &all[0];
        let pw = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "password")
            .unwrap();
        assert_eq!(pw["returned"], "never");
        assert_eq!(pw["mutability"], "writeOnly");
    }

    #[test]
    fn the_directory_copies_the_values_of_every_multi_valued_attribute_that_has_values() {
        // `groups` is derived from memberships; `addresses` has no `value` sub-attribute.
        let schema: Vec<&str> = USER_ATTRS
            .iter()
            .filter(|d| d.multi && d.sub_attr("value").is_some() && d.name != "groups")
            .map(|d| d.name)
            .collect();
        assert_eq!(schema, crate::service::directory::VALUE_ATTRS);
    }
}
