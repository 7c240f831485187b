//! A QR code drawn as SVG (the `qrcode` crate's SVG renderer, no image library): the staff badge's signed
//! payload from gate-acl, printed by the CMS. Pure.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The payload as an inline SVG QR code (error correction M, a quiet zone, at least 240 px).
pub fn svg(payload: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)?;
    let drawn = code
        .render()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#141a2e"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    // inline in HTML: from the <svg> element on, without the XML declaration
    Ok(drawn.find("<svg").map_or(drawn.clone(), |start| drawn[start..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_becomes_an_svg_whose_size_grows_with_it() {
        let short = svg("S1.abc").unwrap();
        assert!(short.starts_with("<svg") && short.contains("<svg") && short.contains("#141a2e"), "{short}");
        let long = svg(&"x".repeat(300)).unwrap();
        let size = |svg: &str| {
            svg.split("width=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap()
        };
        assert!(size(&long) >= size(&short), "a longer payload needs at least as many modules");
        assert!(svg(&"x".repeat(5000)).is_err(), "too long for any QR version");
    }
}
