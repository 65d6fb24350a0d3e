//! Runs binaryen's optimiser over the core modules inside a component.
//!
//! `wasm-opt` reads core modules only, so the component is taken apart at its
//! top level: every core-module section (id 1) is optimised on its own and
//! put back with its new length; every other section (types, imports,
//! instances, aliases, exports, nested components) is copied as it is. The
//! optimiser keeps each module's imports and exports, which is all the rest
//! of the component refers to.
//!
//! The component's own `component-name` custom section (debug names of its
//! instances and functions, about 11 KB here) is dropped as well, as
//! `strip = true` already drops the core modules' names.

use anyhow::{Context as _, bail};

/// The preamble of a component binary: `\0asm`, version 13, layer 1.
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// Section id of a core module embedded in a component.
const CORE_MODULE_SECTION: u8 = 1;
/// Section id of a custom section.
const CUSTOM_SECTION: u8 = 0;
/// Custom sections left out of the optimised component: debug names only.
pub(crate) const DROPPED_CUSTOM_SECTIONS: [&str; 1] = ["component-name"];

/// One top-level section of a component: its id and where its payload is.
#[derive(Debug, PartialEq, Eq)]
struct Section {
    id: u8,
    payload: std::ops::Range<usize>,
}

/// Reads an unsigned LEB128 `u32` at `at`; returns it and the next offset.
fn read_u32(bytes: &[u8], mut at: usize) -> anyhow::Result<(u32, usize)> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(at).context("section size runs past the end")?;
        at += 1;
        let bits = u32::from(byte & 0x7f);
        if shift == 28 && bits > 0x0f {
            bail!("section size does not fit in 32 bits");
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok((value, at));
        }
    }
    bail!("section size is longer than 5 bytes")
}

fn write_u32(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn sections(component: &[u8]) -> anyhow::Result<Vec<Section>> {
    if component.get(..8) != Some(&COMPONENT_PREAMBLE[..]) {
        bail!("not a WebAssembly component (wrong preamble)");
    }
    let mut found = Vec::new();
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        let (size, start) = read_u32(component, at + 1)?;
        let end = start
            .checked_add(size as usize)
            .filter(|end| *end <= component.len())
            .context("a section runs past the end of the component")?;
        found.push(Section {
            id,
            payload: start..end,
        });
        at = end;
    }
    Ok(found)
}

/// A rebuilt component and, per core module, its size before and after.
pub(crate) type Optimised = (Vec<u8>, Vec<(usize, usize)>);

/// The name of a custom section, from its payload.
fn custom_section_name(payload: &[u8]) -> anyhow::Result<&str> {
    let (length, start) = read_u32(payload, 0)?;
    let name = start
        .checked_add(length as usize)
        .and_then(|end| payload.get(start..end))
        .context("a custom section's name runs past its end")?;
    std::str::from_utf8(name).context("a custom section's name is not UTF-8")
}

/// Rebuilds `component` with every top-level core module replaced by
/// `optimise(module)` and the debug-name custom section left out.
pub(crate) fn optimise_modules(
    component: &[u8],
    mut optimise: impl FnMut(&[u8]) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Optimised> {
    let mut out = Vec::with_capacity(component.len());
    out.extend_from_slice(&COMPONENT_PREAMBLE);
    let mut sizes = Vec::new();
    for section in sections(component)? {
        let payload = &component[section.payload];
        if section.id == CUSTOM_SECTION
            && DROPPED_CUSTOM_SECTIONS.contains(&custom_section_name(payload)?)
        {
            continue;
        }
        out.push(section.id);
        if section.id == CORE_MODULE_SECTION {
            let optimised = optimise(payload)?;
            sizes.push((payload.len(), optimised.len()));
            let length = u32::try_from(optimised.len()).context("optimised module too large")?;
            write_u32(length, &mut out);
            out.extend_from_slice(&optimised);
        } else {
            let length = u32::try_from(payload.len()).context("section too large")?;
            write_u32(length, &mut out);
            out.extend_from_slice(payload);
        }
    }
    Ok((out, sizes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(id: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        write_u32(payload.len() as u32, &mut out);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn leb128_round_trips_at_every_width() -> anyhow::Result<()> {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, 2_097_152, u32::MAX] {
            let mut bytes = Vec::new();
            write_u32(value, &mut bytes);
            assert_eq!(read_u32(&bytes, 0)?, (value, bytes.len()), "{value}");
        }
        assert!(read_u32(&[0x80, 0x80], 0).is_err());
        assert!(read_u32(&[0xff, 0xff, 0xff, 0xff, 0x7f], 0).is_err());
        Ok(())
    }

    #[test]
    fn core_modules_are_replaced_names_dropped_and_lengths_rewritten() -> anyhow::Result<()> {
        let big_module = vec![7u8; 200]; // a 2-byte length that becomes 1 byte
        let mut component = COMPONENT_PREAMBLE.to_vec();
        component.extend(section(7, b"types"));
        component.extend(section(CORE_MODULE_SECTION, &big_module));
        component.extend(section(4, b"nested component, untouched"));
        component.extend(section(CORE_MODULE_SECTION, b"small"));
        component.extend(section(0, b"\x06customkept"));
        component.extend(section(0, b"\x0ecomponent-namedebug names"));

        let (out, sizes) = optimise_modules(&component, |module| {
            Ok(if module.len() == 200 {
                b"shrunk".to_vec()
            } else {
                module.iter().rev().copied().collect()
            })
        })?;

        let mut expected = COMPONENT_PREAMBLE.to_vec();
        expected.extend(section(7, b"types"));
        expected.extend(section(CORE_MODULE_SECTION, b"shrunk"));
        expected.extend(section(4, b"nested component, untouched"));
        expected.extend(section(CORE_MODULE_SECTION, b"llams"));
        expected.extend(section(0, b"\x06customkept"));
        assert_eq!(out, expected);
        assert_eq!(sizes, vec![(200, 6), (5, 5)]);
        Ok(())
    }

    #[test]
    fn broken_input_is_refused_not_copied() {
        assert!(optimise_modules(b"\0asm\x01\0\0\0", |m| Ok(m.to_vec())).is_err());
        let mut truncated = COMPONENT_PREAMBLE.to_vec();
        truncated.extend([CORE_MODULE_SECTION, 10, 1, 2, 3]);
        assert!(optimise_modules(&truncated, |m| Ok(m.to_vec())).is_err());
        let mut failing = COMPONENT_PREAMBLE.to_vec();
        failing.extend(section(CORE_MODULE_SECTION, b"m"));
        assert!(optimise_modules(&failing, |_| bail!("optimiser failed")).is_err());
    }
}
