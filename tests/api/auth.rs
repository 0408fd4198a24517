use hubbridge::service::tokens::Tokens;
use hubbridge::service::{Actor, ServiceError};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::helpers::*;

both!(
    missing_malformed_and_unknown_tokens_get_401_with_a_scim_body,
    |app| async move {
        for auth in [
            None,
            Some("non-token"),
            Some("Bearer"),
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer hbs_not-a-real-token"),
        ] {
            let mut r = app.client.get(app.url("/Users"));
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            let resp = r.send().await.unwrap();
            let challenge = resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                challenge.starts_with("Bearer realm="),
                "{auth:?}: {challenge}"
            );
            // RFC 6750: an error code only when credentials were presented.
            assert_eq!(
                challenge.contains("error=\"invalid_token\""),
                auth.is_some(),
                "{auth:?}"
            );
            assert_scim_error(resp, 401, None).await;
        }
        // Every SCIM route, discovery included, needs the token.
        for path in [
            "/ServiceProviderConfig",
            "/Schemas",
            "/ResourceTypes",
            "/Groups",
            "/Users/x",
        ] {
            let resp = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        let resp = app
            .client
            .post(app.url("/Users"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.counts().await.users, 0);
    }
);

both!(
    revoked_tokens_stop_working_and_use_is_recorded,
    |app| async move {
        let app = TestApp::spawn_with(app.db, |s| s.scim.token_cache_ttl_secs = 0).await;
        let ok = app.get("/Users").await;
        assert_eq!(ok.status(), StatusCode::OK);
        let tokens = app
            .store
            .read(hubbridge::store::tokens::list)
            .await
            .unwrap();
        assert_eq!(tokens.len(), 1);
        // last_used_at is written in the background.
        let mut used = None;
        for _ in 0..50 {
            let t = app
                .store
                .read(hubbridge::store::tokens::list)
                .await
                .unwrap();
            used = t[0].last_used_at;
            if used.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(used.is_some(), "last_used_at recorded");
        // The hash is stored, never the token.
        assert_ne!(tokens[0].token_hash, app.token.as_bytes());
        assert_eq!(tokens[0].token_hash.len(), 32);

        let service = Tokens::new(app.store.clone());
        service.revoke(&Actor::Cli, &tokens[0].id).await.unwrap();
        assert_scim_error(app.get("/Users").await, 401, None).await;
        // Revoking again is harmless; an unknown id is not found.
        service.revoke(&Actor::Cli, &tokens[0].id).await.unwrap();
        assert!(matches!(
            service.revoke(&Actor::Cli, "no-such-token").await,
            Err(ServiceError::NotFound(_))
        ));
        let listed = service.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked_at.is_some());
    }
);

both!(
    health_checks_need_no_token_and_requests_carry_an_id,
    |app| async move {
        let r = app
            .client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "a generated UUID");
        let r = app
            .client
            .get(app.url("/Users"))
            .bearer_auth(&app.token)
            .header("X-Request-Id", "trace-123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], "trace-123");
        let r = app
            .client
            .get(app.url("/Users"))
            .bearer_auth(&app.token)
            .header("X-Request-Id", "bad id with spaces")
            .send()
            .await
            .unwrap();
        assert_ne!(r.headers()["x-request-id"], "bad id with spaces");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["totalResults"], 0);
    }
);

both!(
    token_names_are_checked_and_secrets_work_once_issued,
    |app| async move {
        let service = Tokens::new(app.store.clone());
        let too_long = "n".repeat(201);
        for bad in ["", "   ", "a\u{0}b", "tab\tname", too_long.as_str()] {
            let refused = service.issue(&Actor::Cli, bad).await;
            assert!(
                matches!(refused, Err(ServiceError::Invalid { .. })),
                "{bad:?}: {refused:?}"
            );
        }
        let (info, secret) = service
            .issue(&Actor::Cli, &format!("  {}  ", "é".repeat(200)))
            .await
            .unwrap();
        assert_eq!(info.name, "é".repeat(200), "trimmed, counted in characters");
        let resp = app
            .client
            .get(format!("{}/scim/v2/Users", app.base))
            .bearer_auth(secret.expose())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
);
