import {
  Alert,
  Box,
  Button as MuiButton,
  Card,
  CardContent,
  CardHeader,
  Checkbox,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  FormControlLabel,
  LinearProgress,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField as MuiTextField,
  Typography,
} from '@mui/material';
import { useEffect, useState } from 'react';
import {
  ArrayInput,
  AutocompleteArrayInput,
  BooleanInput,
  Button,
  Create,
  Datagrid,
  DateField,
  DeleteButton,
  Edit,
  FunctionField,
  List,
  NumberInput,
  ReferenceArrayInput,
  ReferenceInput,
  SearchInput,
  SelectInput,
  SimpleForm,
  SimpleFormIterator,
  TextField,
  TextInput,
  TopToolbar,
  required,
  useGetList,
  useListContext,
  useNotify,
  usePermissions,
  useRecordContext,
  useRefresh,
  useTranslate,
} from 'react-admin';
import { useWatch } from 'react-hook-form';
import { api, query } from '../api';
import { can } from '../authProvider';
import { Label, choices } from './common';



/* ------------------------------------------------------------------ subscribers */

function ExportSubscribers() {
  const translate = useTranslate();
  const { filterValues } = useListContext();
  return (
    <MuiButton size="small" href={`/admin/exports/subscribers${query(filterValues)}`} download>
      {translate('ra.action.export')} CSV
    </MuiButton>
  );
}

/** The import route takes at most 5 MB; larger files go in parts, each with the header. */
const PART_BYTES = 4 * 1024 * 1024;

function parts(csv: string): { text: string; rowsBefore: number }[] {
  const lines = csv.split(/\r?\n/);
  const header = lines.shift() ?? '';
  const out: { text: string; rowsBefore: number }[] = [];
  let current: string[] = [];
  let size = 0;
  let rowsBefore = 0;
  for (const line of lines) {
    if (!line.trim()) continue;
    const bytes = new TextEncoder().encode(line).length + 1;
    if (current.length && size + bytes > PART_BYTES) {
      out.push({ text: [header, ...current].join('\n'), rowsBefore });
      rowsBefore += current.length;
      current = [];
      size = 0;
    }
    current.push(line);
    size += bytes;
  }
  if (current.length) out.push({ text: [header, ...current].join('\n'), rowsBefore });
  return out;
}

interface Report {
  rows: number;
  created: number;
  existing: number;
  failed: number;
  errors: { line: number; message: string }[];
}

/**
 * CSV import as listmonk does it: choose lists, upload, watch the parts go, then
 * read which lines failed and why. A part's `rowsBefore` keeps line numbers the
 * file's own.
 */
function ImportDialog({ onClose }: { onClose: () => void }) {
  const translate = useTranslate();
  const refresh = useRefresh();
  const { data: lists } = useGetList('lists', { pagination: { page: 1, perPage: 100 } });
  const [file, setFile] = useState<File | null>(null);
  const [chosen, setChosen] = useState<string[]>([]);
  const [overwrite, setOverwrite] = useState(false);
  const [preconfirm, setPreconfirm] = useState(true);
  const [progress, setProgress] = useState<number | null>(null);
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState<string | null>(null);
  const start = async () => {
    if (!file) return;
    setError(null);
    const pieces = parts(await file.text());
    const total: Report = { rows: 0, created: 0, existing: 0, failed: 0, errors: [] };
    setProgress(0);
    try {
      for (const [i, piece] of pieces.entries()) {
        const { body } = await api<{ data: Report }>(
          `/admin/subscribers/import${query({ lists: chosen.join(','), overwrite, preconfirm, rowsBefore: piece.rowsBefore })}`,
          { method: 'POST', body: piece.text, headers: { 'Content-Type': 'text/csv' } },
        );
        total.rows += body.data.rows;
        total.created += body.data.created;
        total.existing += body.data.existing;
        total.failed += body.data.failed;
        total.errors.push(...body.data.errors);
        setProgress(Math.round(((i + 1) / pieces.length) * 100));
      }
      setReport(total);
      refresh();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Dialog open onClose={onClose} maxWidth="md" fullWidth>
      <DialogTitle>{translate('bx.subscriber.import')}</DialogTitle>
      <DialogContent sx={{ display: 'grid', gap: 2 }}>
        <Typography variant="body2" color="text.secondary">
          {translate('bx.subscriber.importHint')}
        </Typography>
        <MuiButton variant="outlined" component="label">
          {file ? file.name : translate('bx.subscriber.chooseCsv')}
          <input hidden type="file" accept=".csv,text/csv" data-testid="import-file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </MuiButton>
        <Box>
          {(lists ?? []).map((l) => (
            <FormControlLabel
              key={l.id}
              label={l.name}
              control={
                <Checkbox
                  checked={chosen.includes(String(l.id))}
                  onChange={(e) =>
                    setChosen(e.target.checked ? [...chosen, String(l.id)] : chosen.filter((c) => c !== String(l.id)))
                  }
                />
              }
            />
          ))}
        </Box>
        <Box>
          <FormControlLabel
            label={translate('bx.subscriber.preconfirm')}
            control={<Checkbox checked={preconfirm} onChange={(e) => setPreconfirm(e.target.checked)} />}
          />
          <FormControlLabel
            label={translate('bx.subscriber.overwrite')}
            control={<Checkbox checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} />}
          />
        </Box>
        {progress !== null ? <LinearProgress variant="determinate" value={progress} data-testid="import-progress" /> : null}
        {error ? <Alert severity="error">{error}</Alert> : null}
        {report ? (
          <Box data-testid="import-report">
            <Alert severity={report.failed ? 'warning' : 'success'}>
              {translate('bx.subscriber.report', report as any)}
            </Alert>
            {report.errors.length ? (
              <Table size="small">
                <TableHead>
                  <TableRow>
                    <TableCell>{translate('bx.subscriber.line')}</TableCell>
                    <TableCell>{translate('bx.subscriber.problem')}</TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {report.errors.map((e) => (
                    <TableRow key={e.line}>
                      <TableCell>{e.line}</TableCell>
                      <TableCell>{e.message}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            ) : null}
          </Box>
        ) : null}
      </DialogContent>
      <DialogActions>
        <MuiButton onClick={onClose}>{translate('ra.action.close')}</MuiButton>
        <MuiButton variant="contained" disabled={!file || (progress !== null && !report && !error)} onClick={start}>
          {translate('bx.subscriber.startImport')}
        </MuiButton>
      </DialogActions>
    </Dialog>
  );
}

function SubscriberActions() {
  const translate = useTranslate();
  const { permissions } = usePermissions();
  const [importing, setImporting] = useState(false);
  return (
    <TopToolbar>
      {can(permissions, 'marketing.write') ? (
        <MuiButton size="small" onClick={() => setImporting(true)}>
          {translate('bx.subscriber.import')}
        </MuiButton>
      ) : null}
      <ExportSubscribers />
      {importing ? <ImportDialog onClose={() => setImporting(false)} /> : null}
    </TopToolbar>
  );
}

const subscriberFilters = [
  <SearchInput key="q" source="q" alwaysOn />,
  <ReferenceInput key="list" source="list" reference="lists">
    <SelectInput optionText="name" />
  </ReferenceInput>,
  <SelectInput key="status" source="status" choices={choices('bx.subscriber.status', ['enabled', 'blocklisted'])} />,
];

const subscriberInput = ({ email, name, status, lists, attributes, preconfirm }: any) => ({
  email,
  name,
  status,
  lists: lists ?? [],
  attributes: typeof attributes === 'string' ? JSON.parse(attributes || '{}') : (attributes ?? {}),
  preconfirm: !!preconfirm,
});

function SubscriberForm() {
  return (
    <SimpleForm>
      <TextInput source="email" type="email" validate={required()} />
      <TextInput source="name" />
      <SelectInput source="status" choices={choices('bx.subscriber.status', ['enabled', 'blocklisted'])} />
      <ReferenceArrayInput source="lists" reference="lists">
        <AutocompleteArrayInput optionText="name" />
      </ReferenceArrayInput>
      <TextInput
        source="attributes"
        multiline
        fullWidth
        format={(v) => (typeof v === 'string' ? v : JSON.stringify(v ?? {}, null, 2))}
        validate={(v) => {
          try {
            if (typeof v === 'string' && v.trim()) JSON.parse(v);
            return undefined;
          } catch {
            return 'bx.subscriber.badJson';
          }
        }}
      />
      <BooleanInput source="preconfirm" />
    </SimpleForm>
  );
}

export const subscribers = {
  list: () => (
    <List filters={subscriberFilters} actions={<SubscriberActions />} empty={false}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="email" sortable={false} />
        <TextField source="name" sortable={false} />
        <FunctionField source="status" sortable={false} render={(r: any) => <Label prefix="bx.subscriber.status" value={r.status} />} />
        <FunctionField
          source="lists"
          sortable={false}
          render={(r: any) => (r.memberships ?? []).map((m: any) => `${m.name}（${m.status}）`).join('，')}
        />
        <DateField source="createdAt" showTime sortable={false} />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list" transform={subscriberInput}>
      <SubscriberForm />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={subscriberInput}>
      <SubscriberForm />
    </Edit>
  ),
};

/* ------------------------------------------------------------------ lists */

const listInput = ({ name, description, visibility, optin }: any) => ({ name, description, visibility, optin });

function ListForm() {
  return (
    <SimpleForm>
      <TextInput source="name" validate={required()} />
      <TextInput source="description" multiline fullWidth />
      <SelectInput source="visibility" choices={choices('bx.list.visibility', ['public', 'private'])} validate={required()} />
      <SelectInput source="optin" choices={choices('bx.list.optin', ['single', 'double'])} validate={required()} />
    </SimpleForm>
  );
}

export const lists = {
  list: () => (
    <List empty={false}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="name" />
        <FunctionField source="visibility" render={(r: any) => <Label prefix="bx.list.visibility" value={r.visibility} />} />
        <FunctionField source="optin" render={(r: any) => <Label prefix="bx.list.optin" value={r.optin} />} />
        <FunctionField
          source="subscriptions"
          sortable={false}
          render={(r: any) => `${r.subscriptions.confirmed} / ${r.subscriptions.unconfirmed} / ${r.subscriptions.unsubscribed}`}
        />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list" transform={listInput}>
      <ListForm />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={listInput}>
      <ListForm />
    </Edit>
  ),
};

/* ------------------------------------------------------------------ templates */

interface Rendered {
  subject: string;
  html: string;
  text: string;
}

/** The template as a recipient gets it (`POST /admin/templates/preview`), beside the form. */
function TemplatePreview() {
  const translate = useTranslate();
  const [name, subject, html, text] = useWatch({ name: ['name', 'subject', 'html', 'text'] });
  const [rendered, setRendered] = useState<Rendered | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (!subject || !html) return;
    const timer = setTimeout(() => {
      api<{ data: Rendered }>('/admin/templates/preview', {
        method: 'POST',
        json: { data: { template: { name: name || 'preview', subject, html, text: text ?? '' } } },
      }).then(
        (a) => {
          setRendered(a.body.data);
          setProblem(null);
        },
        (e) => setProblem(e.message),
      );
    }, 400);
    return () => clearTimeout(timer);
  }, [name, subject, html, text]);
  return (
    <Card variant="outlined" sx={{ width: '100%' }}>
      <CardHeader title={translate('bx.template.preview')} subheader={rendered?.subject} />
      <CardContent>
        {problem ? <Alert severity="error">{problem}</Alert> : null}
        {rendered ? (
          // A sandbox without scripts: the mail's HTML never runs in the console.
          <Box
            component="iframe"
            title="preview"
            sandbox=""
            srcDoc={rendered.html}
            data-testid="template-preview"
            sx={{ width: '100%', height: 420, border: 0 }}
          />
        ) : null}
      </CardContent>
    </Card>
  );
}

const templateInput = ({ name, subject, html, text }: any) => ({ name, subject, html, text: text ?? '' });

function TemplateForm() {
  return (
    <SimpleForm>
      <TextInput source="name" validate={required()} />
      <TextInput source="subject" validate={required()} fullWidth />
      <Box sx={{ display: 'grid', gridTemplateColumns: { xs: '1fr', lg: '1fr 1fr' }, gap: 2, width: '100%' }}>
        <Box>
          <TextInput source="html" multiline minRows={14} fullWidth validate={required()} />
          <TextInput source="text" multiline minRows={6} fullWidth />
        </Box>
        <TemplatePreview />
      </Box>
    </SimpleForm>
  );
}

export const templates = {
  list: () => (
    <List empty={false}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="name" />
        <TextField source="subject" />
        <DateField source="updatedAt" showTime />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list" transform={templateInput}>
      <TemplateForm />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={templateInput}>
      <TemplateForm />
    </Edit>
  ),
};

/* ------------------------------------------------------------------ campaigns */

const campaignInput = ({ name, template, lists, segment, tracking }: any) => ({
  name,
  template,
  lists: lists ?? [],
  segment: segment ?? null,
  tracking: tracking ?? true,
});

function CampaignForm() {
  return (
    <SimpleForm>
      <TextInput source="name" validate={required()} fullWidth />
      <ReferenceInput source="template" reference="templates">
        <SelectInput optionText="name" validate={required()} />
      </ReferenceInput>
      <ReferenceArrayInput source="lists" reference="lists">
        <AutocompleteArrayInput optionText="name" validate={required()} />
      </ReferenceArrayInput>
      <ReferenceInput source="segment" reference="segments">
        <SelectInput optionText="name" emptyText="bx.campaign.everyone" />
      </ReferenceInput>
      <BooleanInput source="tracking" defaultValue />
    </SimpleForm>
  );
}

function ProgressBar() {
  const record = useRecordContext();
  if (!record?.progress?.targeted) return null;
  const { targeted, sent, failed } = record.progress;
  return (
    <Box sx={{ minWidth: 160 }}>
      <LinearProgress variant="determinate" value={((sent + failed) / targeted) * 100} />
      <Typography variant="caption">
        {sent} / {targeted}
        {failed ? ` (${failed} ✗)` : ''}
      </Typography>
    </Box>
  );
}

export const campaigns = {
  list: () => (
    <List empty={false} sort={{ field: 'createdAt', order: 'DESC' }}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="name" />
        <FunctionField source="status" render={(r: any) => <Label prefix="bx.campaign.status" value={r.status} />} />
        <FunctionField source="progress" sortable={false} render={() => <ProgressBar />} />
        <DateField source="sendAt" showTime emptyText="—" />
        <DateField source="createdAt" showTime />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="edit" transform={campaignInput}>
      <CampaignForm />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" redirect={false} transform={campaignInput} actions={<CampaignActions />} aside={<CampaignStats />}>
      <CampaignForm />
    </Edit>
  ),
};

/** Sends, schedules, pauses... whatever the campaign's state allows; 409s are shown as they come. */
function CampaignActions() {
  const record = useRecordContext();
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const [dialog, setDialog] = useState<'test' | 'schedule' | 'send' | null>(null);
  const [value, setValue] = useState('');
  // Live progress while it sends.
  useEffect(() => {
    if (record?.status !== 'running') return;
    const timer = setInterval(refresh, 3000);
    return () => clearInterval(timer);
  }, [record?.status, refresh]);
  if (!record) return null;
  const act = async (action: string, json?: unknown, done?: string) => {
    setDialog(null);
    try {
      await api(`/admin/campaigns/${encodeURIComponent(String(record.id))}/${action}`, { method: 'POST', json });
      if (done) notify(done, { type: 'success' });
      refresh();
    } catch (e) {
      notify((e as Error).message, { type: 'error' });
    }
  };
  const s = record.status;
  return (
    <TopToolbar>
      <Typography variant="body2" sx={{ mr: 1, alignSelf: 'center' }}>
        <Label prefix="bx.campaign.status" value={s} />
      </Typography>
      <ProgressBar />
      <Button label="bx.campaign.test" onClick={() => setDialog('test')} />
      {s === 'draft' ? <Button label="bx.campaign.schedule" onClick={() => setDialog('schedule')} /> : null}
      {s === 'draft' || s === 'scheduled' ? (
        <Button label="bx.campaign.send" variant="contained" onClick={() => setDialog('send')} />
      ) : null}
      {s === 'running' ? <Button label="bx.campaign.pause" onClick={() => act('pause', undefined, 'bx.campaign.paused')} /> : null}
      {s === 'paused' ? <Button label="bx.campaign.resume" onClick={() => act('resume', undefined, 'bx.campaign.resumed')} /> : null}
      {['scheduled', 'running', 'paused'].includes(s) ? (
        <Button label="bx.campaign.cancel" color="error" onClick={() => act('cancel', undefined, 'bx.campaign.canceled')} />
      ) : null}
      <Dialog open={dialog !== null} onClose={() => setDialog(null)}>
        <DialogTitle>{dialog ? translate(`bx.campaign.${dialog}`) : ''}</DialogTitle>
        <DialogContent sx={{ minWidth: 360 }}>
          {dialog === 'test' ? (
            <MuiTextField
              label={translate('bx.campaign.testTo')}
              value={value}
              onChange={(e) => setValue(e.target.value)}
              fullWidth
              sx={{ mt: 1 }}
              slotProps={{ htmlInput: { 'data-testid': 'test-emails' } }}
            />
          ) : null}
          {dialog === 'schedule' ? (
            <MuiTextField
              type="datetime-local"
              label={translate('bx.campaign.sendAt', { zone: Intl.DateTimeFormat().resolvedOptions().timeZone })}
              value={value}
              onChange={(e) => setValue(e.target.value)}
              sx={{ mt: 1 }}
              slotProps={{ inputLabel: { shrink: true } }}
            />
          ) : null}
          {dialog === 'send' ? <Alert severity="warning">{translate('bx.campaign.sendConfirm')}</Alert> : null}
        </DialogContent>
        <DialogActions>
          <MuiButton onClick={() => setDialog(null)}>{translate('ra.action.cancel')}</MuiButton>
          <MuiButton
            variant="contained"
            disabled={dialog !== 'send' && !value}
            onClick={() => {
              if (dialog === 'test') {
                const emails = value.split(/[,，\s]+/).filter(Boolean);
                act('test', { data: { emails } }, 'bx.campaign.tested');
              } else if (dialog === 'schedule') {
                act('schedule', { data: { sendAt: new Date(value).toISOString() } }, 'bx.campaign.scheduled');
              } else {
                act('send', undefined, 'bx.campaign.started');
              }
              setValue('');
            }}
          >
            {translate('ra.action.confirm')}
          </MuiButton>
        </DialogActions>
      </Dialog>
    </TopToolbar>
  );
}

interface Stats {
  targeted: number;
  sent: number;
  failed: number;
  delivered: number;
  bounced: number;
  complained: number;
  opened: number;
  machineOpened: number;
  clicked: number;
  unsubscribed: number;
  links: { url: string; clicks: number; unique: number }[];
}

function CampaignStats() {
  const record = useRecordContext();
  const translate = useTranslate();
  const [stats, setStats] = useState<Stats | null>(null);
  useEffect(() => {
    if (!record || record.status === 'draft') return;
    api<{ data: Stats }>(`/admin/campaigns/${encodeURIComponent(String(record.id))}/stats`).then((a) => setStats(a.body.data));
  }, [record]);
  if (!stats) return null;
  const rows: [string, number][] = [
    ['targeted', stats.targeted],
    ['sent', stats.sent],
    ['delivered', stats.delivered],
    ['opened', stats.opened],
    ['clicked', stats.clicked],
    ['bounced', stats.bounced],
    ['complained', stats.complained],
    ['unsubscribed', stats.unsubscribed],
  ];
  const max = Math.max(1, stats.targeted);
  return (
    <Card sx={{ ml: 2, minWidth: 320 }}>
      <CardHeader title={translate('bx.campaign.stats')} />
      <CardContent>
        {rows.map(([key, n]) => (
          <Box key={key} sx={{ mb: 1 }}>
            <Typography variant="body2">
              {translate(`bx.campaign.stat.${key}`)}: {n}
            </Typography>
            <LinearProgress variant="determinate" value={(n / max) * 100} />
          </Box>
        ))}
        {stats.links.length ? (
          <Table size="small">
            <TableBody>
              {stats.links.map((l) => (
                <TableRow key={l.url}>
                  <TableCell sx={{ wordBreak: 'break-all' }}>{l.url}</TableCell>
                  <TableCell align="right">{l.unique}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        ) : null}
      </CardContent>
    </Card>
  );
}

/* ------------------------------------------------------------------ automations */

const automationInput = ({ name, trigger, list, steps }: any) => ({
  name,
  trigger,
  list: list ?? null,
  steps: (steps ?? []).map(({ template, delayMinutes }: any) => ({ template, delayMinutes })),
});

function AutomationForm() {
  return (
    <SimpleForm>
      <TextInput source="name" validate={required()} />
      <SelectInput source="trigger" choices={choices('bx.automation.trigger', ['subscribed', 'member-signup', 'order-paid'])} validate={required()} />
      <ReferenceInput source="list" reference="lists">
        <SelectInput optionText="name" />
      </ReferenceInput>
      <ArrayInput source="steps">
        <SimpleFormIterator inline>
          <ReferenceInput source="template" reference="templates">
            <SelectInput optionText="name" validate={required()} />
          </ReferenceInput>
          <NumberInput source="delayMinutes" min={0} validate={required()} />
        </SimpleFormIterator>
      </ArrayInput>
    </SimpleForm>
  );
}

function AutomationActions() {
  const record = useRecordContext();
  const notify = useNotify();
  const refresh = useRefresh();
  if (!record) return null;
  const act = async (action: string) => {
    try {
      await api(`/admin/automations/${encodeURIComponent(String(record.id))}/${action}`, { method: 'POST' });
      refresh();
    } catch (e) {
      notify((e as Error).message, { type: 'error' });
    }
  };
  return (
    <TopToolbar>
      <Label prefix="bx.automation.status" value={record.status} />
      {record.status !== 'active' ? <Button label="bx.automation.activate" onClick={() => act('activate')} /> : null}
      {record.status === 'active' ? <Button label="bx.automation.pause" onClick={() => act('pause')} /> : null}
    </TopToolbar>
  );
}

export const automations = {
  list: () => (
    <List empty={false}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="name" />
        <FunctionField source="trigger" render={(r: any) => <Label prefix="bx.automation.trigger" value={r.trigger} />} />
        <FunctionField source="status" render={(r: any) => <Label prefix="bx.automation.status" value={r.status} />} />
        <FunctionField
          source="enrolled"
          sortable={false}
          render={(r: any) => `${r.enrolled.active} / ${r.enrolled.completed} / ${r.enrolled.left}`}
        />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="edit" transform={automationInput}>
      <AutomationForm />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" redirect={false} transform={automationInput} actions={<AutomationActions />}>
      <AutomationForm />
    </Edit>
  ),
};

/* ------------------------------------------------------------------ segments */

/**
 * Rules as JSON, checked by the API (each rule compiles to a fixed predicate), with
 * the count and a few addresses they match now.
 */
function SegmentPreview() {
  const translate = useTranslate();
  const [match, rules] = useWatch({ name: ['match', 'rules'] });
  const [result, setResult] = useState<{ count: number; sample: string[] } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const preview = async () => {
    try {
      const parsed = typeof rules === 'string' ? JSON.parse(rules) : rules;
      const { body } = await api<{ data: { count: number; sample: string[] } }>('/admin/segments/preview', {
        method: 'POST',
        json: { data: { match, rules: parsed } },
      });
      setResult(body.data);
      setProblem(null);
    } catch (e) {
      setProblem((e as Error).message);
    }
  };
  return (
    <Box>
      <MuiButton onClick={preview}>{translate('bx.segment.preview')}</MuiButton>
      {problem ? <Alert severity="error">{problem}</Alert> : null}
      {result ? (
        <Alert severity="info">
          {translate('bx.segment.matches', { count: result.count })} {result.sample.join('，')}
        </Alert>
      ) : null}
    </Box>
  );
}

const segmentInput = ({ name, match, rules }: any) => ({
  name,
  match,
  rules: typeof rules === 'string' ? JSON.parse(rules) : rules,
});

function SegmentForm() {
  return (
    <SimpleForm>
      <TextInput source="name" validate={required()} />
      <SelectInput source="match" choices={choices('bx.segment.match', ['all', 'any'])} validate={required()} defaultValue="all" />
      <TextInput
        source="rules"
        multiline
        minRows={6}
        fullWidth
        defaultValue="[]"
        helperText="bx.segment.rulesHelp"
        format={(v) => (typeof v === 'string' ? v : JSON.stringify(v ?? [], null, 2))}
        validate={(v) => {
          try {
            if (typeof v === 'string') JSON.parse(v);
            return undefined;
          } catch {
            return 'bx.subscriber.badJson';
          }
        }}
      />
      <SegmentPreview />
    </SimpleForm>
  );
}

export const segments = {
  list: () => (
    <List empty={false}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="name" />
        <FunctionField source="match" render={(r: any) => <Label prefix="bx.segment.match" value={r.match} />} />
        <FunctionField source="rules" sortable={false} render={(r: any) => r.rules.length} />
        <DateField source="updatedAt" showTime />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list" transform={segmentInput}>
      <SegmentForm />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={segmentInput}>
      <SegmentForm />
    </Edit>
  ),
};

/* ------------------------------------------------------------------ suppressions */

export const suppressions = {
  list: () => (
    <List empty={false}>
      <Datagrid bulkActionButtons={false}>
        <TextField source="email" sortable={false} />
        <FunctionField source="reason" sortable={false} render={(r: any) => <Label prefix="bx.suppression.reason" value={r.reason} />} />
        <DateField source="createdAt" showTime sortable={false} />
        <DeleteButton mutationMode="pessimistic" />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list">
      <SimpleForm>
        <TextInput source="email" type="email" validate={required()} />
      </SimpleForm>
    </Create>
  ),
};
