//! The slot through which the key check hands the caller it found to the audit
//! trail's middleware ([`crate::audit`]): a task-local value, set for the duration
//! of one audited request, so that no key is looked up twice.

use std::cell::RefCell;
use std::future::Future;

use detective_core::Role;

/// Who made a request, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The key's (or the session's key's) name.
    pub name: String,
    pub role: Role,
}

tokio::task_local! {
    static ACTOR: RefCell<Option<Actor>>;
}

/// Called by the key check with the caller it found (nothing outside an audited
/// request).
pub fn note(name: &str, role: Role) {
    let _ = ACTOR.try_with(|c| {
        *c.borrow_mut() = Some(Actor {
            name: name.to_string(),
            role,
        })
    });
}

/// Runs `f` with an empty slot; returns what it gave and who the key check found.
pub async fn with_slot<T>(f: impl Future<Output = T>) -> (T, Option<Actor>) {
    ACTOR
        .scope(RefCell::new(None), async move {
            let out = f.await;
            (out, ACTOR.with(|c| c.borrow_mut().take()))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_slot_holds_who_the_check_noted_within_one_request_only() {
        note("outside", Role::Admin);
        let ((), actor) = with_slot(async { note("ann", Role::Operator) }).await;
        assert_eq!(
            actor,
            Some(Actor {
                name: "ann".into(),
                role: Role::Operator
            })
        );
        let ((), nobody) = with_slot(async {}).await;
        assert_eq!(nobody, None);
    }
}
