//! User accounts on both databases: names kept lower case and unique, device
//! accounts refused, the hash given back only for an enabled account, and a
//! new password moving the change time on.

use detective_core::Role;
use detective_store::users;
use detective_store::{Db, StoreError};

on_both!(
    accounts_are_unique_by_lower_case_name_and_disabled_ones_cannot_sign_in,
    |db: Db| async move {
        let ann = users::create(&db, "  Ann.Lee@Plant-2 ", Role::Operator, "hash-1")
            .await
            .unwrap();
        assert_eq!(ann.username, "ann.lee@plant-2");
        assert!(!ann.disabled);
        assert!(matches!(
            users::create(&db, "ANN.LEE@plant-2", Role::Viewer, "h").await,
            Err(StoreError::Conflict(_))
        ));
        for bad in ["", "-ann", "ann lee", "ann/../x", &"a".repeat(65)] {
            assert!(
                matches!(
                    users::create(&db, bad, Role::Viewer, "h").await,
                    Err(StoreError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            users::create(&db, "cam", Role::Device, "h").await,
            Err(StoreError::Invalid(_))
        ));

        let (found, hash) = users::credentials(&db, "Ann.Lee@plant-2").await.unwrap().unwrap();
        assert_eq!((found.id.as_str(), hash.as_str()), (ann.id.as_str(), "hash-1"));
        assert_eq!(users::find(&db, &ann.id).await.unwrap().username, ann.username);
        assert_eq!(users::find(&db, "ann.lee@plant-2").await.unwrap().id, ann.id);

        let changed = users::set_password(&db, &ann.id, "hash-2").await.unwrap();
        assert!(changed.password_changed_ms > ann.password_changed_ms);
        let again = users::set_password(&db, &ann.id, "hash-3").await.unwrap();
        assert!(again.password_changed_ms > changed.password_changed_ms);
        assert_eq!(
            users::credentials(&db, "ann.lee@plant-2").await.unwrap().unwrap().1,
            "hash-3"
        );

        assert!(users::set_disabled(&db, &ann.id, true).await.unwrap().disabled);
        assert!(users::credentials(&db, "ann.lee@plant-2").await.unwrap().is_none());
        assert!(!users::set_disabled(&db, &ann.id, false).await.unwrap().disabled);
        assert!(users::credentials(&db, "ann.lee@plant-2").await.unwrap().is_some());
        assert!(matches!(
            users::set_password(&db, "no-such-id", "h").await,
            Err(StoreError::NotFound { .. })
        ));
        users::create(&db, "bob", Role::Admin, "h").await.unwrap();
        let names: Vec<String> = users::list(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["ann.lee@plant-2", "bob"]);
    }
);
