//! Alarms: applying `AlarmRequest`s to the `alarms` table, and the rule of
//! what a store under the NOSPACE alarm still accepts (etcd's
//! `applierV3Capped`).
//!
//! Owns the table's rows ((alarm type, member id) -> ()) and the listing
//! order. Not here: deciding when to raise NOSPACE (the server's quota check
//! compares the backend size with `--quota-backend-bytes`), and the CORRUPT
//! alarm's refusal of every request (no corruption check exists yet, so it is
//! only recorded).

use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{AlarmMember, AlarmRequest, AlarmResponse, AlarmType};
use etcd_proto::raftpb::raft_request::Request;
use redb::{ReadableTable, Table};

use crate::error::{ApplyError, StorageError};

/// Applies one alarm request. ACTIVATE answers with the alarm (new or
/// already active), DEACTIVATE with the alarm it cleared (nothing if it was
/// not active), GET with the active alarms of the type (every type for
/// NONE). An unknown action changes nothing and answers nothing, as etcd.
pub(crate) fn apply(
    table: &mut Table<'_, (i32, u64), ()>,
    req: &AlarmRequest,
) -> Result<AlarmResponse, StorageError> {
    let member = AlarmMember {
        member_id: req.member_id,
        alarm: req.alarm,
    };
    let alarms = match AlarmAction::try_from(req.action) {
        Ok(AlarmAction::Get) => list(table, req.alarm)?,
        Ok(AlarmAction::Activate) => {
            table.insert((req.alarm, req.member_id), ())?;
            vec![member]
        }
        Ok(AlarmAction::Deactivate) => match table.remove((req.alarm, req.member_id))? {
            Some(_) => vec![member],
            None => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    Ok(AlarmResponse {
        header: None,
        alarms,
    })
}

/// The active alarms of type `alarm` (every type for `NONE`), ordered by
/// type then member id so every member lists them alike.
pub(crate) fn list(
    table: &impl ReadableTable<(i32, u64), ()>,
    alarm: i32,
) -> Result<Vec<AlarmMember>, StorageError> {
    let rows = if alarm == AlarmType::None as i32 {
        table.iter()?
    } else {
        table.range((alarm, 0)..=(alarm, u64::MAX))?
    };
    let mut out = Vec::new();
    for row in rows {
        let (k, _) = row?;
        let (alarm, member_id) = k.value();
        out.push(AlarmMember { member_id, alarm });
    }
    Ok(out)
}

/// Whether any member has NOSPACE active.
pub(crate) fn nospace_active(
    table: &impl ReadableTable<(i32, u64), ()>,
) -> Result<bool, StorageError> {
    let t = AlarmType::Nospace as i32;
    Ok(table.range((t, 0)..=(t, u64::MAX))?.next().is_some())
}

/// The refusal of requests that may grow the store while NOSPACE is
/// active ([`crate::request::may_grow_store`]).
pub(crate) fn check_capped(req: &Request, nospace: bool) -> Result<(), ApplyError> {
    match nospace && crate::request::may_grow_store(req) {
        true => Err(ApplyError::NoSpace),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::PutRequest;

    #[test]
    fn capped_refuses_only_under_nospace() {
        assert!(check_capped(&Request::Put(PutRequest::default()), false).is_ok());
        assert!(matches!(
            check_capped(&Request::Put(PutRequest::default()), true),
            Err(ApplyError::NoSpace)
        ));
    }
}
