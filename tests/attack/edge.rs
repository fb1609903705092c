//! The listeners as a stranger meets them: signals, slow and idle connections, close codes.

use crate::harness::ChildHub;

#[tokio::test]
async fn a_fresh_child_hub_serves() {
    let mut hub = ChildHub::start().await;
    hub.assert_serving().await;
}
