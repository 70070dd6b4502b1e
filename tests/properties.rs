//! Property tests: whatever bytes an image file holds, whatever `--set` a user types, whatever
//! text a configuration file holds, the answer is a value or an error, never a panic.

use std::path::Path;

use discogan::config::Config;
use proptest::prelude::*;

/// A small valid PNG, to mutate.
fn png_bytes() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(6, 5, |x, y| {
        image::Rgba([x as u8 * 40, y as u8 * 50, 7, 200])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// Reads `bytes` as the image file `name` through the loader's two entry points.
fn read_as_image(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    if let Err(e) = discogan::data::open(&path) {
        assert!(
            e.to_string().contains(name),
            "the error names the file: {e}"
        );
    }
    let _ = discogan::data::check_header(&path);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_an_image_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let dir = tempfile::tempdir().unwrap();
        read_as_image(dir.path(), "x.png", &bytes);
    }

    #[test]
    fn mutated_png_bytes_are_an_image_or_an_error(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = png_bytes();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1).max(bytes.len() / 2);
        bytes.truncate(keep);
        let dir = tempfile::tempdir().unwrap();
        read_as_image(dir.path(), "y.png", &bytes);
    }

    #[test]
    fn any_set_is_a_configuration_or_an_error_naming_it(
        section in prop::sample::select(vec!["model", "objective", "optimizer", "data", "train", "nope", ""]),
        key in "[a-z_]{0,16}",
        value in prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| v.to_string()),
            Just("nan".to_string()),
            Just("inf".to_string()),
            Just("-1".to_string()),
            Just("true".to_string()),
            Just("[1, 2]".to_string()),
            Just("{ a = 1 }".to_string()),
            "[ -~]{0,12}",
        ],
    ) {
        let item = if section.is_empty() { format!("{key}={value}") } else { format!("{section}.{key}={value}") };
        match Config::default().with_overrides(std::slice::from_ref(&item)) {
            Ok(config) => { let _ = config.validate(); }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn known_keys_with_any_value_are_validated_not_trusted(
        key in prop::sample::select(vec![
            "model.width", "model.image_size", "model.channels", "model.dropout",
            "optimizer.lr", "optimizer.epsilon", "optimizer.beta1", "train.batch_size",
            "train.ema_decay", "train.log_every", "objective.lambda_cycle",
            "objective.update_interval", "data.load_size", "train.max_minutes",
        ]),
        value in prop_oneof![any::<i32>().prop_map(|v| v.to_string()), any::<f64>().prop_map(|v| format!("{v:?}")), Just("nan".into()), Just("-inf".into())],
    ) {
        let item = format!("{key}={value}");
        if let Ok(config) = Config::default().with_overrides(&[item]) {
            let _ = config.validate();
        }
    }

    #[test]
    fn any_toml_text_is_a_configuration_or_an_error(text in "[\\[\\]a-z_.=\"0-9 \\n#-]{0,120}") {
        let _ = Config::from_toml(&text);
        if let Err(e) = Config::from_file_text(Path::new("c.toml"), &text) {
            prop_assert!(e.to_string().contains("c.toml"));
        }
    }

    #[test]
    fn a_real_configuration_with_one_line_mutated_is_read_or_refused(
        line in any::<prop::sample::Index>(),
        replacement in "[ -~]{0,30}",
    ) {
        let text = Config::default().to_toml().unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let i = line.index(lines.len());
        lines[i] = replacement;
        let mutated = lines.join("\n");
        if let Ok(config) = Config::from_file_text(Path::new("c.toml"), &mutated) {
            let _ = config.validate();
        }
    }
}
