//! Faults survived (issue #19): each test injects one fault into a real
//! server under load and ends by checking the promise: nothing acknowledged
//! is lost or stored twice, and the server recovers by itself.
//!
//! [`load`] streams uniquely numbered events and keeps the ids the server
//! acknowledged; [`load::assert_each_change_once`] is the closing check.

mod destination;
mod load;
mod tmpfs;

mod aws_outage;
mod clock;
mod crash_loop;
mod disk_full;
mod outages;
mod retention;
mod shutdown;
mod slow_consumer;
