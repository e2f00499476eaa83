//! The AWS backends against a real `moto_server`.
//!
//! `cargo xtask test` starts one and sets `TRAILMARK_MOTO_URL` and the
//! `AWS_*` variables; by hand:
//!
//! ```text
//! python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.*'
//! .venv/bin/moto_server -H 127.0.0.1 -p 5055 &
//! TRAILMARK_MOTO_URL=http://127.0.0.1:5055 AWS_ENDPOINT_URL=http://127.0.0.1:5055 \
//!   AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
//!   AWS_EC2_METADATA_DISABLED=true cargo test -p trailmark-backends-aws
//! ```
//!
//! moto keeps one state for all tests: every test makes its own resources
//! with unique names.

mod bootstrap;
mod common;
mod dynamodb;
mod errors;
mod eventbridge;
mod resend;
mod s3;
mod sns;
mod sqs;
#[path = "../../../backends/src/test_http.rs"]
mod test_http;
