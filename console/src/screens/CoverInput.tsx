import { Box, Button, LinearProgress, Typography } from '@mui/material';
import { useState } from 'react';
import { useInput, useNotify, useRecordContext, useTranslate } from 'react-admin';
import { uploadFile } from '../uploads';

/**
 * The cover image: uploaded through the presigned flow, and stored as the upload's
 * documentId (a media field, as in Strapi). The preview is the upload's `small`
 * format once image-process has made it, else the file itself.
 */
export function CoverInput({ source }: { source: string }) {
  const translate = useTranslate();
  const notify = useNotify();
  const { field } = useInput({ source });
  const record = useRecordContext();
  const [progress, setProgress] = useState<number | null>(null);
  const [uploaded, setUploaded] = useState<{ documentId: string; url: string | null } | null>(null);
  const saved = record?.labels?.[source];
  const preview =
    uploaded && uploaded.documentId === field.value
      ? uploaded.url
      : saved && saved.documentId === field.value
        ? (saved.formats?.small?.url ?? saved.url)
        : null;

  const choose = async (file: File | undefined) => {
    if (!file) return;
    setProgress(0);
    try {
      const upload = await uploadFile(file, setProgress);
      setUploaded({ documentId: upload.documentId, url: upload.url });
      field.onChange(upload.documentId);
      notify('bx.notify.uploaded', { type: 'success' });
    } catch (e) {
      notify((e as Error).message, { type: 'error' });
    } finally {
      setProgress(null);
    }
  };

  return (
    <Box sx={{ width: '100%', maxWidth: 480 }}>
      <Typography variant="subtitle2" gutterBottom>
        {translate('bx.editor.cover')}
      </Typography>
      {preview ? (
        <Box
          component="img"
          src={preview}
          alt=""
          sx={{ width: '100%', maxHeight: 240, objectFit: 'cover', borderRadius: 1, mb: 1 }}
        />
      ) : null}
      <Button variant="outlined" component="label" disabled={progress !== null}>
        {translate('bx.editor.chooseFile')}
        <input
          hidden
          type="file"
          accept="image/jpeg,image/png,image/webp,image/gif"
          data-testid="cover-file"
          onChange={(e) => choose(e.target.files?.[0])}
        />
      </Button>
      {progress !== null ? (
        <LinearProgress variant="determinate" value={progress} sx={{ mt: 1 }} data-testid="cover-progress" />
      ) : null}
    </Box>
  );
}
