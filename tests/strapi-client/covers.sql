-- A processed cover for the three newest published articles, as image-process records
-- one: what the media-field cases of client.test.mjs read through the content API.
WITH cover AS (
  INSERT INTO uploads (object_key, original_filename, content_type, size_bytes, status,
                       completed_at, url, width, height, processing, processed_at, formats)
  VALUES ('uploads/2026/11/0123456789abcdef0123456789abcdef/cover.jpg', '封面.jpg',
          'image/jpeg', 482133, 'ready', now(),
          'https://media.example.com/uploads/2026/11/0123456789abcdef0123456789abcdef/cover.jpg',
          1600, 1200, 'done', now(),
          jsonb_build_object(
            'thumbnail', jsonb_build_object('name', 'thumbnail_封面.jpg', 'ext', '.jpg',
              'mime', 'image/jpeg', 'width', 208, 'height', 156, 'size', 9.1, 'sizeInBytes', 9100,
              'url', 'https://media.example.com/formats/2026/11/0123456789abcdef0123456789abcdef/thumbnail_cover.jpg',
              'webp', jsonb_build_object('mime', 'image/webp', 'ext', '.webp', 'width', 208,
                'height', 156, 'size', 6.2, 'sizeInBytes', 6200,
                'url', 'https://media.example.com/formats/2026/11/0123456789abcdef0123456789abcdef/thumbnail_cover.webp')),
            'small', jsonb_build_object('name', 'small_封面.jpg', 'ext', '.jpg',
              'mime', 'image/jpeg', 'width', 500, 'height', 375, 'size', 41.3, 'sizeInBytes', 41300,
              'url', 'https://media.example.com/formats/2026/11/0123456789abcdef0123456789abcdef/small_cover.jpg',
              'webp', jsonb_build_object('mime', 'image/webp', 'ext', '.webp', 'width', 500,
                'height', 375, 'size', 28.8, 'sizeInBytes', 28800,
                'url', 'https://media.example.com/formats/2026/11/0123456789abcdef0123456789abcdef/small_cover.webp'))))
  RETURNING id
)
UPDATE articles SET cover_id = (SELECT id FROM cover)
 WHERE id IN (SELECT id FROM articles WHERE published_at <= now() AND deleted_at IS NULL
              ORDER BY published_at DESC LIMIT 3);
