//! `etcdserverpb.WatchResponse`, written by hand instead of generated, so a
//! server can send an event it has already encoded.
//!
//! A committed write goes to every watcher of its key, each in a response of
//! its own. Encoding the same event field by field for a thousand watchers
//! costs more than the rest of the delivery; with
//! [`WatchResponse::encoded_events`] the server encodes it once and each
//! response copies the bytes. On the wire nothing changes: those bytes are
//! more entries of the repeated `events` field (number 11), after the ones in
//! [`WatchResponse::events`]. Decoding always fills `events` and leaves
//! `encoded_events` empty, so clients see the generated type's shape.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use crate::etcdserverpb::ResponseHeader;
use crate::mvccpb::Event;

/// Field numbers of `WatchResponse` in etcd's rpc.proto.
const HEADER: u32 = 1;
const WATCH_ID: u32 = 2;
const CREATED: u32 = 3;
const CANCELED: u32 = 4;
const COMPACT_REVISION: u32 = 5;
const CANCEL_REASON: u32 = 6;
const FRAGMENT: u32 = 7;
const EVENTS: u32 = 11;

#[derive(Clone, PartialEq, Default, Debug)]
pub struct WatchResponse {
    pub header: Option<ResponseHeader>,
    pub watch_id: i64,
    pub created: bool,
    pub canceled: bool,
    pub compact_revision: i64,
    pub cancel_reason: String,
    pub fragment: bool,
    pub events: Vec<Event>,
    /// Further events, already encoded as entries of field 11 (see
    /// [`encode_event`]); sent after `events`. Only a sender sets it.
    pub encoded_events: Vec<u8>,
}

/// Appends `event` to `buf` as one entry of `WatchResponse.events` (key,
/// length, message), for [`WatchResponse::encoded_events`].
pub fn encode_event(event: &Event, buf: &mut Vec<u8>) {
    encoding::message::encode(EVENTS, event, buf);
}

impl prost::Message for WatchResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(header) = &self.header {
            encoding::message::encode(HEADER, header, buf);
        }
        if self.watch_id != 0 {
            encoding::int64::encode(WATCH_ID, &self.watch_id, buf);
        }
        if self.created {
            encoding::bool::encode(CREATED, &self.created, buf);
        }
        if self.canceled {
            encoding::bool::encode(CANCELED, &self.canceled, buf);
        }
        if self.compact_revision != 0 {
            encoding::int64::encode(COMPACT_REVISION, &self.compact_revision, buf);
        }
        if !self.cancel_reason.is_empty() {
            encoding::string::encode(CANCEL_REASON, &self.cancel_reason, buf);
        }
        if self.fragment {
            encoding::bool::encode(FRAGMENT, &self.fragment, buf);
        }
        for event in &self.events {
            encoding::message::encode(EVENTS, event, buf);
        }
        buf.put_slice(&self.encoded_events);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            HEADER => encoding::message::merge(
                wire_type,
                self.header.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            WATCH_ID => encoding::int64::merge(wire_type, &mut self.watch_id, buf, ctx),
            CREATED => encoding::bool::merge(wire_type, &mut self.created, buf, ctx),
            CANCELED => encoding::bool::merge(wire_type, &mut self.canceled, buf, ctx),
            COMPACT_REVISION => {
                encoding::int64::merge(wire_type, &mut self.compact_revision, buf, ctx)
            }
            CANCEL_REASON => encoding::string::merge(wire_type, &mut self.cancel_reason, buf, ctx),
            FRAGMENT => encoding::bool::merge(wire_type, &mut self.fragment, buf, ctx),
            EVENTS => encoding::message::merge_repeated(wire_type, &mut self.events, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.header
            .as_ref()
            .map_or(0, |h| encoding::message::encoded_len(HEADER, h))
            + if self.watch_id != 0 {
                encoding::int64::encoded_len(WATCH_ID, &self.watch_id)
            } else {
                0
            }
            + if self.created {
                encoding::bool::encoded_len(CREATED, &self.created)
            } else {
                0
            }
            + if self.canceled {
                encoding::bool::encoded_len(CANCELED, &self.canceled)
            } else {
                0
            }
            + if self.compact_revision != 0 {
                encoding::int64::encoded_len(COMPACT_REVISION, &self.compact_revision)
            } else {
                0
            }
            + if self.cancel_reason.is_empty() {
                0
            } else {
                encoding::string::encoded_len(CANCEL_REASON, &self.cancel_reason)
            }
            + if self.fragment {
                encoding::bool::encoded_len(FRAGMENT, &self.fragment)
            } else {
                0
            }
            + encoding::message::encoded_len_repeated(EVENTS, &self.events)
            + self.encoded_events.len()
    }

    fn clear(&mut self) {
        *self = WatchResponse::default();
    }
}

/// protobuf's JSON mapping, as the generated messages have it (pbjson
/// cannot generate this one: the type is ours). Only `events` is written;
/// `encoded_events` is a sender's shortcut and a decoded response never
/// holds any.
impl serde::Serialize for WatchResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("etcdserverpb.WatchResponse", 8)?;
        if let Some(header) = &self.header {
            out.serialize_field("header", header)?;
        }
        if self.watch_id != 0 {
            out.serialize_field("watch_id", &self.watch_id.to_string())?;
        }
        if self.created {
            out.serialize_field("created", &true)?;
        }
        if self.canceled {
            out.serialize_field("canceled", &true)?;
        }
        if self.compact_revision != 0 {
            out.serialize_field("compact_revision", &self.compact_revision.to_string())?;
        }
        if !self.cancel_reason.is_empty() {
            out.serialize_field("cancel_reason", &self.cancel_reason)?;
        }
        if self.fragment {
            out.serialize_field("fragment", &true)?;
        }
        if !self.events.is_empty() {
            out.serialize_field("events", &self.events)?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::mvccpb::KeyValue;

    fn event(key: &str, rev: i64) -> Event {
        Event {
            r#type: 0,
            kv: Some(KeyValue {
                key: key.as_bytes().to_vec(),
                value: b"value".to_vec(),
                create_revision: 2,
                mod_revision: rev,
                version: 3,
                lease: 0,
            }),
            prev_kv: None,
        }
    }

    fn full() -> WatchResponse {
        WatchResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 300,
                raft_term: 4,
            }),
            watch_id: 5,
            created: true,
            canceled: true,
            compact_revision: 6,
            cancel_reason: "why".into(),
            fragment: true,
            events: vec![event("a", 7), event("b", 8)],
            encoded_events: Vec::new(),
        }
    }

    /// Every field survives a round trip; a default message is empty on the
    /// wire, as proto3 encodes it.
    #[test]
    fn encodes_every_field_and_decodes_back() {
        let resp = full();
        let bytes = resp.encode_to_vec();
        assert_eq!(bytes.len(), resp.encoded_len());
        assert_eq!(WatchResponse::decode(&bytes[..]).unwrap(), resp);
        assert!(WatchResponse::default().encode_to_vec().is_empty());
    }

    #[test]
    fn pre_encoded_events_are_events_on_the_wire() {
        let mut split = full();
        let last = split.events.pop().unwrap();
        encode_event(&last, &mut split.encoded_events);
        let bytes = split.encode_to_vec();
        assert_eq!(bytes.len(), split.encoded_len());
        assert_eq!(bytes, full().encode_to_vec());
        let decoded = WatchResponse::decode(&bytes[..]).unwrap();
        assert_eq!(decoded, full());
        assert!(decoded.encoded_events.is_empty());
    }

    /// Fields a newer etcd might add are skipped, as generated code does.
    #[test]
    fn unknown_fields_are_skipped() {
        let mut bytes = full().encode_to_vec();
        encoding::string::encode(20, &"future".to_string(), &mut bytes);
        assert_eq!(WatchResponse::decode(&bytes[..]).unwrap(), full());
    }
}
