import {
  Box,
  Button as MuiButton,
  Chip,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  List as MuiList,
  ListItemButton,
  ListItemText,
  TextField as MuiTextField,
  Typography,
} from '@mui/material';
import { useState } from 'react';
import {
  ArrayInput,
  AutocompleteArrayInput,
  BooleanInput,
  Button,
  Create,
  Datagrid,
  DateField,
  Edit,
  FunctionField,
  List,
  ReferenceArrayInput,
  ReferenceInput,
  SaveButton,
  SearchInput,
  SelectInput,
  SimpleFormIterator,
  TabbedForm,
  TextField,
  TextInput,
  Toolbar,
  required,
  useNotify,
  useRecordContext,
  useRefresh,
  useTranslate,
} from 'react-admin';
import { useFormContext } from 'react-hook-form';
import { api } from '../api';
import { CoverInput } from './CoverInput';
import { MarkdownInput } from './MarkdownInput';
import { lineDiff } from './diff';
import { Label, choices } from './common';

const STATUSES = ['draft', 'scheduled', 'published'] as const;
const VISIBILITIES = ['public', 'members', 'paid'] as const;
const LOCALES = [
  { id: 'zh-CN', name: '中文' },
  { id: 'en', name: 'English' },
];

function StatusChip() {
  const record = useRecordContext();
  const translate = useTranslate();
  if (!record) return null;
  const color = { draft: 'default', published: 'success', scheduled: 'info' } as const;
  const status = record.status as keyof typeof color;
  return <Chip size="small" color={color[status] ?? 'default'} label={translate(`bx.status.${status}`)} />;
}


const filters = [
  <SearchInput key="q" source="q" alwaysOn />,
  <SelectInput key="status" source="status" choices={choices('bx.status', STATUSES)} />,
  <SelectInput key="visibility" source="visibility" choices={choices('bx.visibility', VISIBILITIES)} />,
  <ReferenceInput key="category" source="category" reference="categories">
    <SelectInput optionText="name" />
  </ReferenceInput>,
  <ReferenceInput key="tags" source="tags" reference="tags">
    <SelectInput optionText="name" />
  </ReferenceInput>,
  <ReferenceInput key="author" source="author" reference="authors">
    <SelectInput optionText="name" />
  </ReferenceInput>,
  <SelectInput key="locale" source="locale" choices={LOCALES} />,
];

export function ArticleList() {
  return (
    <List filters={filters} sort={{ field: 'updatedAt', order: 'DESC' }} perPage={25}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="title" />
        <FunctionField source="status" render={() => <StatusChip />} sortable={false} />
        <FunctionField
          source="visibility"
          sortable={false}
          render={(r: any) => <Label prefix="bx.visibility" value={r.visibility} />}
        />
        <TextField source="category.name" label="resources.articles.fields.category" sortable={false} />
        <TextField source="author.name" label="resources.articles.fields.author" sortable={false} />
        <DateField source="updatedAt" showTime />
      </Datagrid>
    </List>
  );
}


/** The fields a save sends; the rest of the record is for display. */
const WRITABLE = [
  'title',
  'slug',
  'excerpt',
  'body',
  'cover',
  'locale',
  'visibility',
  'featured',
  'seoTitle',
  'seoDescription',
  'internalNotes',
  'category',
  'tags',
  'products',
];

export const writable = (data: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(data).filter(([k]) => WRITABLE.includes(k)));

function ArticleForm({ toolbar }: { toolbar?: React.ReactElement }) {
  const translate = useTranslate();
  return (
    <TabbedForm toolbar={toolbar}>
      <TabbedForm.Tab label="bx.editor.write">
        <TextInput source="title" validate={required()} fullWidth />
        <MarkdownInput source="body" />
        <TextInput source="excerpt" multiline fullWidth />
      </TabbedForm.Tab>
      <TabbedForm.Tab label="resources.articles.fields.visibility">
        <CoverInput source="cover" />
        <SelectInput source="visibility" choices={choices('bx.visibility', VISIBILITIES)} />
        <ArrayInput source="products">
          <SimpleFormIterator inline>
            <SelectInput
              source="kind"
              choices={[
                { id: 'plan', name: 'plan' },
                { id: 'course', name: 'course' },
              ]}
            />
            <TextInput source="code" />
          </SimpleFormIterator>
        </ArrayInput>
        <ReferenceInput source="category" reference="categories">
          <SelectInput optionText="name" />
        </ReferenceInput>
        <ReferenceArrayInput source="tags" reference="tags">
          <AutocompleteArrayInput optionText="name" />
        </ReferenceArrayInput>
        <SelectInput source="locale" choices={LOCALES} />
        <BooleanInput source="featured" />
      </TabbedForm.Tab>
      <TabbedForm.Tab label="bx.editor.seo">
        <TextInput source="slug" fullWidth helperText={false} />
        <TextInput source="seoTitle" fullWidth />
        <TextInput source="seoDescription" multiline fullWidth />
        <TextInput source="internalNotes" multiline fullWidth />
        <Typography variant="caption" color="text.secondary">
          {translate('resources.articles.fields.internalNotes')}: {translate('bx.editor.internalHint')}
        </Typography>
      </TabbedForm.Tab>
    </TabbedForm>
  );
}

export function ArticleCreate() {
  return (
    <Create redirect="edit" transform={writable}>
      <ArticleForm />
    </Create>
  );
}

export function ArticleEdit() {
  return (
    <Edit mutationMode="pessimistic" redirect={false} transform={writable} actions={<EditorActions />}>
      <ArticleForm toolbar={<EditorToolbar />} />
    </Edit>
  );
}

/** POSTs one of an article's state changes and reloads it. */
function useArticleAction() {
  const notify = useNotify();
  const refresh = useRefresh();
  return async (id: string, action: string, json?: unknown, done?: string) => {
    try {
      await api(`/admin/articles/${encodeURIComponent(id)}/${action}`, {
        method: action === 'schedule' && json === undefined ? 'DELETE' : 'POST',
        json,
      });
      if (done) notify(done, { type: 'success' });
      refresh();
    } catch (e) {
      notify((e as Error).message, { type: 'error' });
    }
  };
}

function EditorToolbar() {
  const record = useRecordContext();
  const translate = useTranslate();
  const act = useArticleAction();
  const form = useFormContext();
  const [scheduling, setScheduling] = useState(false);
  if (!record) return null;
  const dirty = form.formState.isDirty;
  const live = record.status === 'published';
  return (
    <Toolbar sx={{ gap: 1 }}>
      <SaveButton />
      <Button
        label="bx.action.publish"
        variant="contained"
        color="success"
        disabled={dirty || record.status === 'published'}
        onClick={() => act(String(record.id), 'publish', undefined, 'bx.notify.published')}
      />
      {live ? (
        <Button
          label="bx.action.unpublish"
          disabled={dirty}
          onClick={() => act(String(record.id), 'unpublish', undefined, 'bx.notify.unpublished')}
        />
      ) : null}
      {record.status === 'scheduled' ? (
        <Button
          label="bx.action.unschedule"
          onClick={() => act(String(record.id), 'schedule', undefined, 'bx.notify.unscheduled')}
        />
      ) : (
        <Button label="bx.action.schedule" disabled={dirty} onClick={() => setScheduling(true)} />
      )}
      {dirty ? (
        <Typography variant="caption" color="text.secondary">
          {translate('bx.editor.saveFirst')}
        </Typography>
      ) : null}
      <ScheduleDialog
        open={scheduling}
        onClose={() => setScheduling(false)}
        onSchedule={(at) => {
          setScheduling(false);
          act(String(record.id), 'schedule', { data: { publishAt: at } }, 'bx.notify.scheduled');
        }}
      />
    </Toolbar>
  );
}

/** A date-time in the staff member's own time zone, sent as an instant. */
function ScheduleDialog(props: { open: boolean; onClose: () => void; onSchedule: (iso: string) => void }) {
  const translate = useTranslate();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const [value, setValue] = useState('');
  return (
    <Dialog open={props.open} onClose={props.onClose}>
      <DialogTitle>{translate('bx.action.schedule')}</DialogTitle>
      <DialogContent>
        <MuiTextField
          type="datetime-local"
          label={translate('bx.editor.scheduleAt', { zone })}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          slotProps={{ inputLabel: { shrink: true }, htmlInput: { 'data-testid': 'schedule-at', step: 1 } }}
          sx={{ mt: 1, minWidth: 280 }}
        />
      </DialogContent>
      <DialogActions>
        <MuiButton onClick={props.onClose}>{translate('ra.action.cancel')}</MuiButton>
        <MuiButton
          variant="contained"
          disabled={!value}
          // `new Date` reads a datetime-local value in the browser's own zone.
          onClick={() => props.onSchedule(new Date(value).toISOString())}
        >
          {translate('ra.action.confirm')}
        </MuiButton>
      </DialogActions>
    </Dialog>
  );
}

interface Revision {
  revision: number;
  title: string;
  body: string;
  editor: string | null;
  createdAt: string;
}

function EditorActions() {
  const record = useRecordContext();
  const [open, setOpen] = useState(false);
  return (
    <Box sx={{ display: 'flex', gap: 1, alignItems: 'center' }}>
      {record?.status ? <StatusChip /> : null}
      {record?.scheduledAt ? <DateField source="scheduledAt" showTime /> : null}
      <Button label="bx.editor.revisions" onClick={() => setOpen(true)} />
      {record && open ? <RevisionsDialog id={String(record.id)} current={record.body ?? ''} onClose={() => setOpen(false)} /> : null}
    </Box>
  );
}

function RevisionsDialog({ id, current, onClose }: { id: string; current: string; onClose: () => void }) {
  const translate = useTranslate();
  const act = useArticleAction();
  const [revisions, setRevisions] = useState<Revision[] | null>(null);
  const [chosen, setChosen] = useState<Revision | null>(null);
  if (revisions === null) {
    api<{ data: Revision[] }>(`/admin/articles/${encodeURIComponent(id)}/revisions`).then(
      (a) => setRevisions(a.body.data),
      () => setRevisions([]),
    );
  }
  return (
    <Dialog open onClose={onClose} maxWidth="lg" fullWidth>
      <DialogTitle>{translate('bx.editor.revisions')}</DialogTitle>
      <DialogContent sx={{ display: 'grid', gridTemplateColumns: '260px 1fr', gap: 2 }}>
        <MuiList dense>
          {(revisions ?? []).map((r) => (
            <ListItemButton key={r.revision} selected={chosen?.revision === r.revision} onClick={() => setChosen(r)}>
              <ListItemText primary={`#${r.revision} ${r.title}`} secondary={new Date(r.createdAt).toLocaleString()} />
            </ListItemButton>
          ))}
          {revisions?.length === 0 ? <Typography>{translate('bx.editor.noRevisions')}</Typography> : null}
        </MuiList>
        <Box>
          {chosen ? (
            <>
              <Typography variant="subtitle2">{translate('bx.editor.diff')}</Typography>
              <Box component="pre" data-testid="diff" sx={{ fontSize: 13, whiteSpace: 'pre-wrap', m: 0 }}>
                {lineDiff(chosen.body, current).map((line, i) => (
                  <Box
                    key={i}
                    component="span"
                    sx={{
                      display: 'block',
                      bgcolor: line.kind === 'added' ? '#e6ffec' : line.kind === 'removed' ? '#ffebe9' : undefined,
                    }}
                  >
                    {line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '- ' : '  '}
                    {line.text}
                  </Box>
                ))}
              </Box>
            </>
          ) : null}
        </Box>
      </DialogContent>
      <DialogActions>
        <MuiButton onClick={onClose}>{translate('ra.action.close')}</MuiButton>
        <MuiButton
          variant="contained"
          disabled={!chosen}
          onClick={() => {
            onClose();
            act(id, `revisions/${chosen!.revision}/restore`, undefined, 'bx.notify.restored');
          }}
        >
          {translate('bx.action.restore')}
        </MuiButton>
      </DialogActions>
    </Dialog>
  );
}
