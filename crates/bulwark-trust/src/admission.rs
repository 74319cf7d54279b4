//! Kubernetes admission: `AdmissionReview` v1 in, response out.
//!
//! Every container kind (`containers`, `initContainers`,
//! `ephemeralContainers`) of Pods and of the pod templates of Deployments,
//! StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs is decided;
//! one denial denies the object. Allowed tag references are pinned to the
//! digest that was verified with a JSON patch, so the kubelet runs exactly
//! what was checked. The webhook's own namespace is excluded. Serving HTTPS
//! and the request deadline are the caller's (the `bulwark admission`
//! command).

mod handler;
mod review;
mod workload;

pub use handler::{AdmissionError, AdmissionOptions, Decider, deadline_response, parse, respond};
pub use review::{AdmissionRequest, AdmissionResponse, AdmissionReview, ReviewResponse, Status};
pub use workload::{CONTAINER_LISTS, ContainerImage, container_images, pod_spec_pointer};
