//! The hub as an attacker meets it: the real binary in a child process, attacked over real
//! sockets as a stranger, a tenant with a workspace token and a broken client would. After each
//! attack the hub is alive and another client still works.

mod harness;

mod bounds;
mod edge;
mod inbox;
mod names;
mod restart;
mod storm;
mod tenancy;
