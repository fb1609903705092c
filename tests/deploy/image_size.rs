//! The image packs the binary stripped: the engine's size of the image the deploy tests build
//! (from the debug binary they use, so no release build is added to the suite) is the stripped
//! binary's, not the binary's with its debug info.

use std::path::Path;

use scitex_orochi::deploy::image;

use crate::common::*;

#[tokio::test]
async fn the_image_is_the_stripped_binary_and_little_else() {
    let tag = shared_image().await;
    let size = image::size(&docker().await, &tag).await.unwrap();
    let binary = std::fs::read(bin()).unwrap();
    let stripped = image::strip(Path::new(bin()), &binary).unwrap().len() as u64;
    eprintln!("binary {} bytes, stripped {stripped}, image {size}", binary.len());
    assert!(size >= stripped, "the image ({size}) cannot hold the binary ({stripped})");
    // FROM scratch: one layer with the binary; labels and config are not counted.
    assert!(size <= stripped + 64 * 1024, "image {size} bytes for a {stripped}-byte stripped binary");
    assert!(size * 2 < binary.len() as u64, "image {size} bytes: the debug info was packed");
}
