import { Box, Button, LinearProgress } from '@mui/material';
import { useState } from 'react';
import {
  Datagrid,
  DateField,
  FunctionField,
  List,
  NumberField,
  TextField,
  TopToolbar,
  useNotify,
  useRefresh,
  useTranslate,
} from 'react-admin';
import { uploadFile } from '../uploads';

function UploadButton() {
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const [progress, setProgress] = useState<number | null>(null);
  const choose = async (file?: File) => {
    if (!file) return;
    setProgress(0);
    try {
      await uploadFile(file, setProgress);
      notify('bx.notify.uploaded', { type: 'success' });
      refresh();
    } catch (e) {
      notify((e as Error).message, { type: 'error' });
    } finally {
      setProgress(null);
    }
  };
  return (
    <Box sx={{ display: 'flex', alignItems: 'center', gap: 1 }}>
      {progress !== null ? <LinearProgress variant="determinate" value={progress} sx={{ width: 160 }} /> : null}
      <Button size="small" component="label" disabled={progress !== null}>
        {translate('bx.action.upload')}
        <input hidden type="file" accept="image/jpeg,image/png,image/webp,image/gif,application/pdf" onChange={(e) => choose(e.target.files?.[0])} />
      </Button>
    </Box>
  );
}

/** What image-process made of an upload: its size and formats, or why not. */
function Processing({ upload }: { upload: any }) {
  const translate = useTranslate();
  switch (upload.processing) {
    case 'done':
      return (
        <span data-testid="processing">
          {translate('bx.processing.done', {
            width: upload.width,
            height: upload.height,
            smart_count: Object.keys(upload.formats ?? {}).length,
          })}
        </span>
      );
    case 'failed':
      return <span data-testid="processing">{translate('bx.processing.failed', { reason: upload.processingError })}</span>;
    default:
      return <span data-testid="processing">{translate(`bx.processing.${upload.processing ?? 'pending'}`)}</span>;
  }
}

/** The media library (`GET /admin/uploads`), newest first. */
export function UploadList() {
  return (
    <List
      actions={
        <TopToolbar>
          <UploadButton />
        </TopToolbar>
      }
      sort={{ field: 'createdAt', order: 'DESC' }}
      empty={false}
    >
      <Datagrid bulkActionButtons={false}>
        <FunctionField
          label=" "
          render={(r: any) =>
            r.url && r.contentType?.startsWith('image/') ? (
              <Box
                component="img"
                src={r.formats?.thumbnail?.url ?? r.url}
                alt=""
                sx={{ width: 64, height: 40, objectFit: 'cover', borderRadius: 0.5 }}
              />
            ) : null
          }
        />
        <TextField source="filename" sortable={false} />
        <TextField source="contentType" label="resources.uploads.fields.mime" sortable={false} />
        <NumberField source="size" sortable={false} />
        <TextField source="status" sortable={false} />
        <FunctionField
          source="formats"
          sortable={false}
          render={(r: any) => <Processing upload={r} />}
        />
        <DateField source="createdAt" showTime sortable={false} />
      </Datagrid>
    </List>
  );
}
