//! Behaviour of the synthetic generator: determinism, exact labels, variety, texture.

use super::*;

fn cfg() -> SynthConfig {
    SynthConfig {
        width: 160,
        height: 128,
        ..SynthConfig::default()
    }
}

#[test]
fn same_seed_and_index_give_identical_bytes_and_other_seeds_differ() {
    let a = generate(&cfg(), 42, 7).unwrap();
    let b = generate(&cfg(), 42, 7).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.image, generate(&cfg(), 43, 7).unwrap().image);
    assert_ne!(a.image, generate(&cfg(), 42, 8).unwrap().image);
}

#[test]
fn every_box_is_the_tight_box_of_its_instance_pixels_and_the_mask_is_their_union() {
    let c = SynthConfig {
        defect_rate: 1.0,
        ..cfg()
    };
    for i in 0..60 {
        let s = generate(&c, 5, i).unwrap();
        let mut union = GrayFrame::new(c.width, c.height);
        for o in &s.objects {
            let (mut x1, mut y1, mut x2, mut y2) = (u32::MAX, u32::MAX, 0, 0);
            let mut n = 0;
            for y in 0..c.height {
                for x in 0..c.width {
                    if o.instance_mask.contains(x, y) {
                        n += 1;
                        (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x + 1), y2.max(y + 1));
                        union.set(x, y, 255);
                    }
                }
            }
            assert!(n >= MIN_PIXELS, "sample {i}: object with {n} pixels");
            assert_eq!(n, o.instance_mask_pixels, "sample {i}: pixel count");
            assert_eq!(
                o.bbox,
                BBox {
                    x1: x1 as f32,
                    y1: y1 as f32,
                    x2: x2 as f32,
                    y2: y2 as f32
                },
                "sample {i}"
            );
            assert!(o.bbox.x2 <= c.width as f32 && o.bbox.y2 <= c.height as f32);
        }
        assert_eq!(union, s.mask, "sample {i}: union mask equals the OR of instances");
        // every labelled pixel of the image lies in some box
        for y in 0..c.height {
            for x in 0..c.width {
                if s.mask.get(x, y) != 0 {
                    let (xf, yf) = (x as f32, y as f32);
                    assert!(
                        s.objects
                            .iter()
                            .any(|o| o.bbox.x1 <= xf && xf < o.bbox.x2 && o.bbox.y1 <= yf && yf < o.bbox.y2),
                        "sample {i}: mask pixel ({x}, {y}) outside every box"
                    );
                }
            }
        }
        assert!(s.mask.data.iter().all(|&v| v == 0 || v == 255));
    }
}

#[test]
fn every_drawn_defect_visibly_changes_its_mask_pixels_and_dents_only_there() {
    let (w, h) = (128usize, 96usize);
    let mut rng = Rng::new(17);
    for round in 0..60 {
        let surface = texture::Surface::random(&mut rng, w, h);
        let bare = surface.render(w, h, &mut rng);
        for kind in DefectKind::ALL {
            let Some(layer) = defects::draw(kind, w, h, &surface, &mut rng) else {
                continue;
            };
            let mut drawn = bare.clone();
            layer.apply(&mut drawn, w);
            let change = |x: u32, y: u32| {
                let i = y as usize * w + x as usize;
                (drawn[i] - bare[i]).abs()
            };
            let n = layer.mask.count() as f32;
            let mean = layer.mask.pixels().map(|(x, y)| change(x, y)).sum::<f32>() / n;
            assert!(
                mean >= 5.0,
                "round {round}: {kind:?} changes its pixels by {mean:.1} on average"
            );
            if kind == DefectKind::Dent {
                for y in 0..h as u32 {
                    for x in 0..w as u32 {
                        let inside = layer.mask.contains(x, y);
                        assert_eq!(
                            inside,
                            change(x, y) >= DENT_VISIBLE,
                            "round {round}: dent pixel ({x}, {y})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_class_is_produced_and_class_index_follows_config_order() {
    let c = SynthConfig {
        defect_rate: 1.0,
        classes: vec![DefectKind::Dent, DefectKind::Crack],
        ..cfg()
    };
    let mut seen = [0; 2];
    for i in 0..40 {
        for o in generate(&c, 1, i).unwrap().objects {
            seen[o.class as usize] += 1;
        }
    }
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    let all = SynthConfig {
        defect_rate: 1.0,
        ..cfg()
    };
    let mut seen = [0; 4];
    for i in 0..60 {
        for o in generate(&all, 2, i).unwrap().objects {
            seen[o.class as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
}

#[test]
fn zero_defect_rate_gives_clean_images_and_rate_one_gives_defects() {
    let clean = SynthConfig {
        defect_rate: 0.0,
        ..cfg()
    };
    for i in 0..20 {
        let s = generate(&clean, 3, i).unwrap();
        assert!(s.objects.is_empty());
        assert!(s.mask.data.iter().all(|&v| v == 0));
    }
    let dirty = SynthConfig {
        defect_rate: 1.0,
        ..cfg()
    };
    let with = (0..50)
        .filter(|&i| !generate(&dirty, 3, i).unwrap().objects.is_empty())
        .count();
    assert!(with >= 48, "{with} of 50 images have defects");
}

#[test]
fn defect_sizes_span_a_few_pixels_to_a_quarter_of_the_image() {
    let c = SynthConfig {
        width: 256,
        height: 256,
        defect_rate: 1.0,
        ..SynthConfig::default()
    };
    let (mut small, mut large) = (0, 0);
    for i in 0..150 {
        for o in generate(&c, 11, i).unwrap().objects {
            let side = o.bbox.width().max(o.bbox.height());
            if side < 16.0 {
                small += 1;
            }
            if side > 64.0 {
                large += 1;
            }
        }
    }
    assert!(small > 10 && large > 10, "small {small}, large {large}");
}

fn autocorrelation(l: &[u8], w: usize, h: usize, dx: usize, dy: usize) -> f64 {
    let mean = l.iter().map(|&v| v as f64).sum::<f64>() / l.len() as f64;
    let (mut num, mut den) = (0.0, 0.0);
    for y in 0..h - dy {
        for x in 0..w - dx {
            let a = l[y * w + x] as f64 - mean;
            let b = l[(y + dy) * w + x + dx] as f64 - mean;
            num += a * b;
            den += a * a;
        }
    }
    num / den
}

#[test]
fn surfaces_have_texture_and_brushed_ones_a_grain_direction() {
    let clean = SynthConfig {
        defect_rate: 0.0,
        width: 192,
        height: 192,
        ..SynthConfig::default()
    };
    for i in 0..30 {
        let l = generate(&clean, 21, i).unwrap().image.to_luma();
        let mean = l.iter().map(|&v| v as f64).sum::<f64>() / l.len() as f64;
        let std = (l.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / l.len() as f64).sqrt();
        assert!(std > 3.0, "sample {i} is flat (std {std})");
    }
    // The bare brushed texture: strongly correlated along the grain, not across it.
    let mut rng = Rng::new(5);
    let mut checked = 0;
    while checked < 5 {
        let surface = texture::Surface::random(&mut rng, 128, 128);
        if surface.kind != texture::SurfaceKind::Brushed {
            continue;
        }
        let tex = surface.render(128, 128, &mut rng);
        let l: Vec<u8> = tex.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
        let along_x = autocorrelation(&l, 128, 128, 3, 0);
        let along_y = autocorrelation(&l, 128, 128, 0, 3);
        assert!(
            (along_x - along_y).abs() > 0.3,
            "brushed texture anisotropy: {along_x:.2} vs {along_y:.2}"
        );
        checked += 1;
    }
}

#[test]
fn invalid_configs_are_refused_with_the_reason() {
    let bad = [
        SynthConfig { width: 8, ..cfg() },
        SynthConfig {
            defect_rate: 1.5,
            ..cfg()
        },
        SynthConfig {
            classes: vec![],
            ..cfg()
        },
        SynthConfig {
            classes: vec![DefectKind::Spot, DefectKind::Spot],
            ..cfg()
        },
        SynthConfig {
            max_defects: 0,
            ..cfg()
        },
    ];
    for c in bad {
        assert!(generate(&c, 0, 0).is_err(), "{c:?}");
    }
    assert!(DefectKind::from_name("bubble").is_err());
    assert_eq!(DefectKind::from_name(" Scratch ").unwrap(), DefectKind::Scratch);
}
