import { Box, Button, LinearProgress, Typography } from '@mui/material';
import { useState } from 'react';
import { useInput, useNotify, useTranslate } from 'react-admin';
import { uploadFile } from '../uploads';

/** The cover image: uploaded through the presigned flow, stored as its public URL. */
export function CoverInput({ source }: { source: string }) {
  const translate = useTranslate();
  const notify = useNotify();
  const { field } = useInput({ source });
  const [progress, setProgress] = useState<number | null>(null);

  const choose = async (file: File | undefined) => {
    if (!file) return;
    setProgress(0);
    try {
      const upload = await uploadFile(file, setProgress);
      field.onChange(upload.url);
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
      {field.value ? (
        <Box
          component="img"
          src={field.value}
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
