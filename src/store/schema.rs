//! diesel table definitions, written by hand to match `migrations/{sqlite,postgres}`.

diesel::table! {
    scim_tokens (id) {
        id -> Text,
        name -> Text,
        token_hash -> Binary,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (seq) {
        seq -> BigInt,
        id -> Text,
        user_name -> Text,
        user_name_ci -> Text,
        external_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        nick_name -> Nullable<Text>,
        title -> Nullable<Text>,
        user_type -> Nullable<Text>,
        preferred_language -> Nullable<Text>,
        locale -> Nullable<Text>,
        timezone -> Nullable<Text>,
        profile_url -> Nullable<Text>,
        active -> Bool,
        name_formatted -> Nullable<Text>,
        name_family -> Nullable<Text>,
        name_given -> Nullable<Text>,
        name_middle -> Nullable<Text>,
        name_prefix -> Nullable<Text>,
        name_suffix -> Nullable<Text>,
        employee_number -> Nullable<Text>,
        cost_center -> Nullable<Text>,
        organization -> Nullable<Text>,
        division -> Nullable<Text>,
        department -> Nullable<Text>,
        manager_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        attrs -> Text,
    }
}

diesel::table! {
    // No key in the database; (user_seq, attr) only satisfies diesel's macro.
    user_values (user_seq, attr) {
        user_seq -> BigInt,
        attr -> Text,
        value -> Nullable<Text>,
        value_ci -> Nullable<Text>,
        #[sql_name = "type"]
        type_ -> Nullable<Text>,
        is_primary -> Bool,
        display -> Nullable<Text>,
    }
}

diesel::table! {
    groups (seq) {
        seq -> BigInt,
        id -> Text,
        display_name -> Text,
        display_name_ci -> Text,
        external_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    group_members (group_seq, user_seq) {
        group_seq -> BigInt,
        user_seq -> BigInt,
    }
}

diesel::joinable!(group_members -> groups (group_seq));
diesel::joinable!(group_members -> users (user_seq));
diesel::allow_tables_to_appear_in_same_query!(
    scim_tokens,
    users,
    user_values,
    groups,
    group_members
);
