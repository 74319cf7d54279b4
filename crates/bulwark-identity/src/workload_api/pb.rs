//! Code generated from `proto/workload.proto` by tonic-prost-build.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/_.rs"));
