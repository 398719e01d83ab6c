//! Cluster harness and fault suites over real `drp-endpoint` processes (being written).
