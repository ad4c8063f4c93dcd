//! Runnable examples and end-to-end tests of the auth workspace; see the README.
