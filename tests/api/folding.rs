//! Case-insensitive matching beyond ASCII, on attributes with and without a folded column.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::helpers::*;

/// Does this PostgreSQL server's `lower()` fold non-ASCII letters? It follows the
/// database's LC_CTYPE (a `C` database folds ASCII only); SQLite uses hubbridge's own.
fn postgres_folds_unicode() -> bool {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Folded {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ok: bool,
    }
    let mut c = diesel::PgConnection::establish(&postgres_url()).expect("postgres");
    diesel::sql_query("SELECT lower('ÄΩ') = 'äω' AS ok")
        .get_result::<Folded>(&mut c)
        .expect("query")
        .ok
}

both!(
    case_insensitive_filters_fold_non_ascii_letters,
    |app| async move {
        let mut body = user_body("Ärger.Ölund@example.com");
        body["name"]["familyName"] = json!("ÖLUND");
        body["title"] = json!("Überingenieur");
        let r = app.post("/Users", body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        app.create_user("plain@example.com").await;

        // userName has a folded column (folded in Rust on both backends).
        assert_eq!(
            app.user_names("userName eq \"ärger.ölund@EXAMPLE.com\"")
                .await,
            ["Ärger.Ölund@example.com"]
        );
        let unicode_lower = match app.db {
            Db::Sqlite => true,
            Db::Postgres => tokio::task::spawn_blocking(postgres_folds_unicode)
                .await
                .expect("check"),
        };
        // hubbridge needs a UTF-8 locale (docs/scim.md); a test server without one is a
        // set-up error to fix (.ci/run creates its cluster with C.UTF-8), not a pass.
        assert!(
            unicode_lower,
            "the PostgreSQL server's lower() folds ASCII only (LC_CTYPE C): create the \
             cluster with a UTF-8 locale, e.g. pg_createcluster --locale C.UTF-8"
        );
        // name.familyName and title have no folded column: the database's lower().
        assert_eq!(
            app.user_names("name.familyName eq \"ölund\"").await,
            ["Ärger.Ölund@example.com"]
        );
        assert_eq!(
            app.user_names("title sw \"ÜBER\"").await,
            ["Ärger.Ölund@example.com"]
        );
        assert!(app.user_names("title co \"xyz\"").await.is_empty());
    }
);
