//! `apply -f` on the real API server.
