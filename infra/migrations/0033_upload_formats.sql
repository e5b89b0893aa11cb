-- Responsive images: after an image lands in S3, functions/image-process decodes it
-- (bounded), writes Strapi's formats (thumbnail, small, medium, large) in its own type
-- and in WebP under formats/, and records them here with the original's dimensions.
--
-- `processing` says where that stands: `pending` until the function has run,
-- `done`, `failed` (a corrupt file or one over the pixel budget; the reason in
-- `processing_error`), or `skipped` (not a raster image we resize: PDF, AVIF).
-- `formats` is Strapi v5's object, `{"thumbnail": {"url", "width", "height", ...}}`,
-- empty until done (and for an image too small for any format). `square` is the
-- share image chat apps show (WeChat's share card): the centre as a JPEG square of at
-- most 300 pixels, kept out of `formats` so Strapi clients building a srcset from
-- the breakpoints never pick a crop.

ALTER TABLE uploads
  ADD COLUMN width integer CHECK (width > 0),
  ADD COLUMN height integer CHECK (height > 0),
  ADD COLUMN formats jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN square jsonb,
  ADD COLUMN processing text NOT NULL DEFAULT 'pending'
    CHECK (processing IN ('pending', 'done', 'failed', 'skipped')),
  ADD COLUMN processing_error text,
  ADD COLUMN processed_at timestamptz;

-- Files uploaded before this existed were never announced to the processor.
UPDATE uploads SET processing = 'skipped',
                   processing_error = 'uploaded before images were processed'
 WHERE processing = 'pending';
