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

diesel::table! {
    hubs (seq) {
        seq -> BigInt,
        id -> Text,
        label -> Text,
        business_id -> Text,
        business_name -> Text,
        app_id -> Text,
        login_method -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        owner -> Text,
        access_token -> Binary,
        app_secret -> Nullable<Binary>,
        safeguard_percent -> Integer,
        safeguard_window_minutes -> Integer,
        safeguard_max_removals -> Nullable<Integer>,
        sync_interval_hours -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    grants (seq) {
        seq -> BigInt,
        id -> Text,
        hub_seq -> BigInt,
        group_seq -> Nullable<BigInt>,
        user_seq -> Nullable<BigInt>,
        hub_role -> Text,
        business_role -> Text,
        assets -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    members (seq) {
        seq -> BigInt,
        id -> Text,
        hub_seq -> BigInt,
        email -> Text,
        email_ci -> Text,
        name -> Nullable<Text>,
        business_user_id -> Nullable<Text>,
        invitation_id -> Nullable<Text>,
        meta_status -> Text,
        business_role -> Nullable<Text>,
        assets -> Text,
        state -> Text,
        user_id -> Nullable<Text>,
        hub_role -> Nullable<Text>,
        exemption_reason -> Nullable<Text>,
        exemption_by -> Nullable<Text>,
        exemption_at -> Nullable<BigInt>,
        partner_business_id -> Nullable<Text>,
        first_seen_at -> BigInt,
        last_seen_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tasks (seq) {
        seq -> BigInt,
        id -> Text,
        hub_seq -> BigInt,
        kind -> Text,
        user_id -> Nullable<Text>,
        member_id -> Nullable<Text>,
        email -> Nullable<Text>,
        triggered_by -> Text,
        status -> Text,
        attempts -> Integer,
        claims -> Integer,
        max_attempts -> Integer,
        run_after -> BigInt,
        lease_until -> Nullable<BigInt>,
        status_reason -> Nullable<Text>,
        last_error -> Nullable<Text>,
        progress -> Nullable<Text>,
        approved -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        settled_claim -> Nullable<Integer>,
    }
}

diesel::table! {
    hub_assets (hub_seq, asset_id) {
        hub_seq -> BigInt,
        asset_id -> Text,
        kind -> Text,
        name -> Text,
        owned_by -> Text,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    task_calls (seq) {
        seq -> BigInt,
        task_seq -> BigInt,
        attempt -> Integer,
        request -> Text,
        target -> Text,
        outcome -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    guests (seq) {
        seq -> BigInt,
        id -> Text,
        name -> Text,
        email -> Text,
        email_ci -> Text,
        partner_business_id -> Nullable<Text>,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(group_members -> groups (group_seq));
diesel::joinable!(group_members -> users (user_seq));
diesel::joinable!(grants -> hubs (hub_seq));
diesel::joinable!(members -> hubs (hub_seq));
diesel::joinable!(tasks -> hubs (hub_seq));
diesel::joinable!(task_calls -> tasks (task_seq));
diesel::joinable!(hub_assets -> hubs (hub_seq));
diesel::allow_tables_to_appear_in_same_query!(
    scim_tokens,
    users,
    user_values,
    groups,
    group_members,
    hubs,
    grants,
    members,
    tasks,
    task_calls,
    hub_assets,
    guests
);
