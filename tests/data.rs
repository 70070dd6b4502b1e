//! Data layouts, pixel conversions and every class of bad input.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use discogan::config::Config;
use discogan::data::open_dataset;
use discogan::data::{AlphaMode, BatchLoader, DataConfig, Dataset, Layout, Preprocess};
use image::{Rgba, RgbaImage};

fn png(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) {
    RgbaImage::from_fn(w, h, |x, y| Rgba(f(x, y)))
        .save(path)
        .unwrap();
}

fn prep(channels: usize, range: (f32, f32)) -> Preprocess {
    Preprocess {
        channels,
        image_size: 8,
        load_size: 8,
        random_crop: false,
        flip: false,
        alpha: AlphaMode::White,
        range,
    }
}

/// trainA: `n` reddish images, trainB: `n` bluish ones (each slightly different).
fn unaligned(dir: &Path, n: u32) {
    for d in ["trainA", "trainB", "testA", "testB"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    for i in 0..n {
        png(&dir.join(format!("trainA/{i:02}.png")), 8, 8, |_, _| {
            [200, i as u8, 0, 255]
        });
        png(&dir.join(format!("trainB/{i:02}.png")), 8, 8, |_, _| {
            [0, i as u8, 200, 255]
        });
    }
    png(&dir.join("testA/t.png"), 8, 8, |_, _| [255, 0, 0, 255]);
    png(&dir.join("testB/t.png"), 8, 8, |_, _| [0, 0, 255, 255]);
}

fn config_for(root: &Path) -> DataConfig {
    DataConfig {
        root: Some(root.to_path_buf()),
        ..DataConfig::default()
    }
}

#[test]
fn unaligned_batches_are_deterministic_cover_each_epoch_and_are_in_range() {
    let dir = tempfile::tempdir().unwrap();
    unaligned(dir.path(), 6);
    let dataset = Arc::new(Dataset::open(&config_for(dir.path()), dir.path(), 3).unwrap());
    let loader = BatchLoader::new(dataset.clone(), prep(3, (-1.0, 1.0)), 3, 2, false);
    let first = loader.load(4).unwrap();
    assert_eq!(
        first,
        loader.load(4).unwrap(),
        "a batch is a function of its iteration"
    );
    assert_eq!(first.shape, [2, 3, 8, 8]);
    assert!(
        first
            .a
            .iter()
            .chain(&first.b)
            .all(|v| (-1.0..=1.0).contains(v))
    );
    // Red channel high in A, blue in B.
    assert!((first.a[0] - (200.0 / 255.0 * 2.0 - 1.0)).abs() < 1e-6);
    assert!((first.b[2 * 64] - (200.0 / 255.0 * 2.0 - 1.0)).abs() < 1e-6);
    // One epoch (3 batches of 2) visits every A image once.
    let mut seen: Vec<usize> = (0..3)
        .flat_map(|i| dataset.batch_indices(3, i, 2).0)
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..6).collect::<Vec<_>>());
    // The next epoch is another order.
    let next: Vec<usize> = (3..6)
        .flat_map(|i| dataset.batch_indices(3, i, 2).0)
        .collect();
    let this: Vec<usize> = (0..3)
        .flat_map(|i| dataset.batch_indices(3, i, 2).0)
        .collect();
    assert_ne!(next, this);
}

#[test]
fn aligned_images_split_into_halves_paired_or_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    for i in 0..4u8 {
        // A|B: left half red with a tag, right half blue with the same tag.
        png(&dir.path().join(format!("train/{i}.png")), 16, 8, |x, _| {
            if x < 8 {
                [255, i * 10, 0, 255]
            } else {
                [0, i * 10, 255, 255]
            }
        });
    }
    let mut config = config_for(dir.path());
    config.layout = Layout::Aligned;
    config.paired = true;
    let paired = Arc::new(Dataset::open(&config, dir.path(), 0).unwrap());
    assert!(paired.paired);
    let batch = BatchLoader::new(paired.clone(), prep(3, (0.0, 1.0)), 0, 2, false)
        .load(0)
        .unwrap();
    for k in 0..2 {
        let a = &batch.a[k * 192..(k + 1) * 192];
        let b = &batch.b[k * 192..(k + 1) * 192];
        assert_eq!((a[0], a[128]), (1.0, 0.0), "A is the left (red) half");
        assert_eq!((b[0], b[128]), (0.0, 1.0), "B is the right (blue) half");
        assert_eq!(a[64], b[64], "paired: the same file's tag");
    }
    // Unpaired: A and B come from disjoint halves of the files.
    config.paired = false;
    let unpaired = Dataset::open(&config, dir.path(), 0).unwrap();
    let a: Vec<&PathBuf> = unpaired.train_a.iter().map(|s| &s.path).collect();
    let b: Vec<&PathBuf> = unpaired.train_b.iter().map(|s| &s.path).collect();
    assert_eq!((a.len(), b.len()), (2, 2));
    assert!(a.iter().all(|p| !b.contains(p)));
    // Test images stay paired (the training files are the fallback without test/).
    assert_eq!(unpaired.test_a.len(), 4);
}

#[test]
fn folders_pair_files_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["trainA", "trainB"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    // The green channel tags each name; x and y.png have namesakes, the others none (y.bmp
    // is another file name).
    for (name, tag) in [("w", 10), ("x", 20), ("y", 30)] {
        png(
            &dir.path().join(format!("trainA/{name}.png")),
            8,
            8,
            |_, _| [255, tag, 0, 255],
        );
    }
    for (name, tag) in [("x", 20), ("z", 40)] {
        png(
            &dir.path().join(format!("trainB/{name}.png")),
            8,
            8,
            |_, _| [0, tag, 255, 255],
        );
    }
    for file in ["y.png", "y.bmp"] {
        RgbaImage::from_fn(8, 8, |_, _| Rgba([0, 30, 255, 255]))
            .save(dir.path().join("trainB").join(file))
            .unwrap();
    }
    let mut config = config_for(dir.path());
    config.paired = true;
    let paired = Arc::new(Dataset::open(&config, dir.path(), 0).unwrap());
    let names = |d: &[discogan::data::Source]| -> Vec<String> {
        d.iter()
            .map(|s| s.path.file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&paired.train_a), ["x", "y"]);
    assert_eq!(names(&paired.train_b), ["x", "y"]);
    for iteration in 0..4 {
        let batch = BatchLoader::new(paired.clone(), prep(3, (0.0, 1.0)), 0, 2, false)
            .load(iteration)
            .unwrap();
        for k in 0..2 {
            assert_eq!(batch.a[k * 192 + 64], batch.b[k * 192 + 64], "a true pair");
        }
    }
    // Without a single shared name there are no pairs: an error naming both folders.
    std::fs::remove_file(dir.path().join("trainB/x.png")).unwrap();
    std::fs::remove_file(dir.path().join("trainB/y.png")).unwrap();
    let err = Dataset::open(&config, dir.path(), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("trainA") && err.contains("trainB"), "{err}");
    // Unpaired, every file counts.
    config.paired = false;
    let unpaired = Dataset::open(&config, dir.path(), 0).unwrap();
    assert_eq!((unpaired.train_a.len(), unpaired.train_b.len()), (3, 2));
}

#[test]
fn alpha_grey_and_channel_conversions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    // Left half transparent black, right half opaque black.
    png(&path, 8, 8, |x, _| {
        if x < 4 { [0, 0, 0, 0] } else { [0, 0, 0, 255] }
    });
    let img = discogan::data::open(&path).unwrap();
    let rgb = prep(3, (0.0, 1.0)).apply(&img, None);
    assert_eq!(
        (rgb[0], rgb[7]),
        (1.0, 0.0),
        "transparent pixels become white"
    );
    let mut black = prep(3, (0.0, 1.0));
    black.alpha = AlphaMode::Black;
    assert_eq!(black.apply(&img, None)[0], 0.0);
    let rgba = prep(4, (0.0, 1.0)).apply(&img, None);
    assert_eq!(
        (rgba[3 * 64], rgba[3 * 64 + 7]),
        (0.0, 1.0),
        "alpha kept as the 4th channel"
    );
    let grey_path = dir.path().join("g.png");
    image::GrayImage::from_pixel(8, 8, image::Luma([51]))
        .save(&grey_path)
        .unwrap();
    let grey = discogan::data::open(&grey_path).unwrap();
    let as_rgb = prep(3, (0.0, 1.0)).apply(&grey, None);
    assert!(
        as_rgb.iter().all(|v| (v - 0.2).abs() < 1e-6),
        "grey fills every channel"
    );
    let as_grey = prep(1, (-1.0, 1.0)).apply(&img, None);
    assert_eq!(as_grey.len(), 64);
    assert_eq!((as_grey[0], as_grey[7]), (1.0, -1.0));
}

#[test]
fn flips_and_crops_follow_the_random_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ramp.png");
    png(&path, 8, 8, |x, _| [(x * 30) as u8, 0, 0, 255]);
    let img = discogan::data::open(&path).unwrap();
    let mut p = prep(3, (0.0, 1.0));
    p.flip = true;
    let flipped = (0..20).any(|k| {
        let mut rng = discogan::rng::SplitMix64::new(&[k]);
        p.apply(&img, Some(&mut rng))[0] > 0.5
    });
    assert!(flipped, "some draws flip the ramp");
    p.flip = false;
    p.load_size = 12;
    p.random_crop = true;
    let crops: std::collections::BTreeSet<u32> = (0..20)
        .map(|k| {
            let mut rng = discogan::rng::SplitMix64::new(&[k]);
            (p.apply(&img, Some(&mut rng))[0] * 1000.0) as u32
        })
        .collect();
    assert!(crops.len() > 1, "random crops start at different columns");
}

/// A PNG whose header says it is 0 pixels wide.
fn zero_size_png(path: &Path) {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&0u32.to_be_bytes());
    ihdr.extend_from_slice(&1u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&13u32.to_be_bytes());
    bytes.extend_from_slice(&ihdr);
    bytes.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn every_bad_input_is_an_error_naming_the_file() {
    type Spoil = fn(&Path);
    let spoilers: Vec<(&str, Spoil)> = vec![
        ("corrupt.png", |p| {
            std::fs::write(p, b"\x89PNG\r\n\x1a\nnot really a png").unwrap()
        }),
        ("truncated.png", |p| {
            png(p, 8, 8, |x, y| [(x * y) as u8, 1, 2, 255]);
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("notes.jpg", |p| {
            std::fs::write(p, "this is text, not an image").unwrap()
        }),
        ("empty.png", |p| std::fs::write(p, b"").unwrap()),
        ("zero.png", zero_size_png),
    ];
    for (name, spoil) in spoilers {
        let dir = tempfile::tempdir().unwrap();
        unaligned(dir.path(), 3);
        let bad = dir.path().join("trainA").join(name);
        spoil(&bad);
        let mut config = Config {
            data: config_for(dir.path()),
            ..Config::default()
        };
        config.model.image_size = 32;
        // Either the header check or the first decode catches it; both name the file.
        let err = match open_dataset(&config.data, config.train.seed) {
            Err(e) => e.to_string(),
            Ok(dataset) => {
                let loader = BatchLoader::new(Arc::new(dataset), prep(3, (0.0, 1.0)), 0, 4, false);
                let errors: Vec<String> = (0..4)
                    .filter_map(|i| loader.load(i).err())
                    .map(|e| e.to_string())
                    .collect();
                errors
                    .first()
                    .cloned()
                    .unwrap_or_else(|| panic!("{name} was read without error"))
            }
        };
        assert!(err.contains(name), "{name}: {err}");

        // With skip_bad the run goes on without it, and says so.
        config.data.skip_bad = true;
        let dataset = Arc::new(open_dataset(&config.data, config.train.seed).unwrap());
        let loader = BatchLoader::new(dataset.clone(), prep(3, (0.0, 1.0)), 0, 3, true);
        for i in 0..3 {
            loader.load(i).unwrap();
        }
        let dropped = !dataset.train_a.iter().any(|s| s.path == bad);
        assert!(
            dropped || loader.skipped() == vec![bad.clone()],
            "{name}: skipped and counted"
        );
    }
}

#[test]
fn missing_and_empty_folders_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data: config_for(dir.path()),
        ..Config::default()
    };
    let err = open_dataset(&config.data, config.train.seed)
        .unwrap_err()
        .to_string();
    assert!(err.contains("trainA"), "{err}");
    std::fs::create_dir_all(dir.path().join("trainA")).unwrap();
    std::fs::write(dir.path().join("trainA/readme.txt"), "no images").unwrap();
    let err = open_dataset(&config.data, config.train.seed)
        .unwrap_err()
        .to_string();
    assert!(err.contains("trainA") && err.contains("no images"), "{err}");
}

#[test]
fn png_jpeg_webp_and_bmp_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(8, 8, |x, _| {
        image::Rgb([if x < 4 { 250 } else { 5 }, 128, 40])
    });
    for ext in ["png", "jpg", "webp", "bmp"] {
        let path = dir.path().join(format!("x.{ext}"));
        img.save(&path).unwrap();
        let values = prep(3, (0.0, 1.0)).apply(&discogan::data::open(&path).unwrap(), None);
        // Lossy JPEG stays close; the others are exact.
        assert!(
            (values[0] - 250.0 / 255.0).abs() < 0.05,
            "{ext}: {}",
            values[0]
        );
        assert!(
            (values[7] - 5.0 / 255.0).abs() < 0.05,
            "{ext}: {}",
            values[7]
        );
    }
    let files = discogan::data::list_images(dir.path()).unwrap();
    assert_eq!(files.len(), 4);
}
