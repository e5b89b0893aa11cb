import { Box, Paper, TextField, Typography } from '@mui/material';
import { useEffect, useState } from 'react';
import { useInput, useTranslate } from 'react-admin';
import { api } from '../api';

/**
 * Markdown beside its preview. The preview is the server's own rendering
 * (`POST /admin/articles/preview`, the renderer publishing uses), so what staff see
 * is what readers get; the HTML it returns has raw HTML escaped and unsafe links
 * dropped (shared/content/src/render.rs).
 */
export function MarkdownInput({ source }: { source: string }) {
  const translate = useTranslate();
  const { field, fieldState } = useInput({ source });
  const [html, setHtml] = useState('');
  const body = String(field.value ?? '');

  useEffect(() => {
    if (!body.trim()) {
      setHtml('');
      return;
    }
    let stale = false;
    const timer = setTimeout(async () => {
      try {
        const { body: answer } = await api<{ data: { html: string } }>('/admin/articles/preview', {
          method: 'POST',
          json: { body },
        });
        if (!stale) setHtml(answer.data.html);
      } catch {
        // The preview lags until the next keystroke; saving reports real errors.
      }
    }, 300);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [body]);

  return (
    <Box sx={{ display: 'grid', gridTemplateColumns: { xs: '1fr', lg: '1fr 1fr' }, gap: 2, width: '100%' }}>
      <TextField
        {...field}
        value={body}
        label={translate('resources.articles.fields.body')}
        multiline
        minRows={18}
        error={!!fieldState.error}
        helperText={fieldState.error?.message}
        slotProps={{ htmlInput: { 'data-testid': 'markdown', spellCheck: false } }}
        sx={{ '& textarea': { fontFamily: 'ui-monospace, Menlo, monospace', fontSize: 14 } }}
      />
      <Paper variant="outlined" sx={{ p: 2, overflow: 'auto', maxHeight: 560 }}>
        <Typography variant="overline" color="text.secondary">
          {translate('bx.editor.preview')}
        </Typography>
        {html ? (
          <Box className="bx-preview" data-testid="preview" dangerouslySetInnerHTML={{ __html: html }} />
        ) : (
          <Typography color="text.secondary">{translate('bx.editor.previewEmpty')}</Typography>
        )}
      </Paper>
    </Box>
  );
}
