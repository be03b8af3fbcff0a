//! The drawing backend of every chart: plotters' RGB bitmap backend, with text laid out
//! and rasterised here by `ab_glyph` from an embedded font.
//!
//! Why not plotters' own `ab_glyph` feature: its renderer ignores each glyph's side
//! bearing, which leaves visible gaps after narrow glyphs ("0. 47", "Il legal"). Laying
//! glyphs out on a baseline with kerning takes a few lines, and this also keeps font
//! handling free of plotters' global font registry.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// DejaVu Sans 2.37 (Bitstream Vera licence; see `assets/README.md`).
const FONT_BYTES: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/DejaVuSans.ttf"));

/// The embedded font, parsed once; `None` if it were corrupt (reported, never a panic).
pub(super) fn embedded_font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok()).as_ref()
}

type BackendResult<T = ()> =
    Result<T, DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

/// [`BitMapBackend`] with correct text rendering in [`embedded_font`].
pub(super) struct ChartBackend<'a> {
    bitmap: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
}

impl<'a> ChartBackend<'a> {
    /// Draws into `rgb`, a `size.0 * size.1 * 3` byte RGB buffer.
    pub(super) fn new(
        rgb: &'a mut [u8],
        size: (u32, u32),
        font: &'static FontRef<'static>,
    ) -> Self {
        ChartBackend { bitmap: BitMapBackend::with_buffer(rgb, size), font }
    }

    /// Glyph positions of `text` on a baseline at `y = ascent`, starting at `x = 0`, and
    /// the text's `(width, height)`.
    fn layout(&self, text: &str, size: f64) -> (Vec<ab_glyph::Glyph>, (u32, u32)) {
        let font = self.font.as_scaled(PxScale::from(size as f32));
        let mut glyphs = Vec::with_capacity(text.len());
        let mut caret = 0.0f32;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                caret += font.kern(previous, id);
            }
            glyphs.push(id.with_scale_and_position(font.scale(), point(caret, font.ascent())));
            caret += font.h_advance(id);
            previous = Some(id);
        }
        let height = font.ascent() - font.descent();
        (glyphs, (caret.ceil().max(0.0) as u32, height.ceil().max(0.0) as u32))
    }
}

impl DrawingBackend for ChartBackend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }

    fn ensure_prepared(&mut self) -> BackendResult {
        self.bitmap.ensure_prepared()
    }

    fn present(&mut self) -> BackendResult {
        self.bitmap.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> BackendResult {
        self.bitmap.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> BackendResult {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> BackendResult {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> BackendResult {
        self.bitmap.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> BackendResult {
        self.bitmap.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> BackendResult {
        self.bitmap.fill_polygon(vertices, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> BackendResult {
        self.bitmap.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> BackendResult<(u32, u32)> {
        Ok(self.layout(text, style.size()).1)
    }

    /// Draws `text` anchored at `pos` as `style` asks (alignment and quarter-turn
    /// rotation), blending each glyph's coverage into the bitmap.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> BackendResult {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, (width, height)) = self.layout(text, style.size());
        let (width, height) = (width as i32, height as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Center => -width / 2,
            HPos::Right => -width,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let rotation = style.transform();
        let mut pixels = Vec::new();
        for glyph in glyphs {
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                outline.draw(|x, y, coverage| {
                    let (x, y) =
                        (bounds.min.x as i32 + x as i32 + dx, bounds.min.y as i32 + y as i32 + dy);
                    let (x, y) = rotation.transform(x, y);
                    pixels.push(((pos.0 + x, pos.1 + y), coverage));
                });
            }
        }
        let (canvas_width, canvas_height) = self.get_size();
        for ((x, y), coverage) in pixels {
            if (0..canvas_width as i32).contains(&x) && (0..canvas_height as i32).contains(&y) {
                let alpha = color.alpha * f64::from(coverage.clamp(0.0, 1.0));
                self.bitmap.draw_pixel((x, y), BackendColor { alpha, rgb: color.rgb })?;
            }
        }
        Ok(())
    }
}
