import {
  Box,
  Card,
  CardContent,
  CardHeader,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Typography,
} from '@mui/material';
import { Suspense, lazy, useEffect, useState } from 'react';
import { Title, useLocaleState, useTranslate } from 'react-admin';
import { api } from '../api';
import type { RevenueDay } from './finance';

const RevenueChart = lazy(() => import('./charts').then((m) => ({ default: m.RevenueChart })));
const CountsChart = lazy(() => import('./charts').then((m) => ({ default: m.CountsChart })));

interface DayCount {
  day: string;
  count: number;
}

interface Sent {
  documentId: string;
  name: string;
  sent: number;
  opened: number;
  clicked: number;
  openRate: number;
  clickRate: number;
  startedAt: string;
}

/** `GET /admin/dashboard`: each section null when the account may not read it. */
interface Overview {
  from: string;
  to: string;
  days: number;
  revenue: RevenueDay[] | null;
  members: { joined: DayCount[] } | null;
  marketing: { subscribed: DayCount[]; campaigns: Sent[] } | null;
  content: { published: DayCount[]; scheduled: number } | null;
  failures: { webhookDeliveries: number; mail: number; campaignMail: number } | null;
}

/** Days as chart rows: `{day, joined: 3, subscribed: 5, ...}`. */
function merge(series: Record<string, DayCount[] | undefined>) {
  const rows = new Map<string, Record<string, number | string>>();
  for (const [key, counts] of Object.entries(series)) {
    for (const { day, count } of counts ?? []) {
      const row = rows.get(day) ?? { day: day.slice(5) };
      row[key] = count;
      rows.set(day, row);
    }
  }
  return [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, row]) => row);
}

function Figure({ label, value, testId }: { label: string; value: number | string; testId?: string }) {
  return (
    <Card sx={{ minWidth: 180, flex: 1 }}>
      <CardContent>
        <Typography color="text.secondary" variant="body2">
          {label}
        </Typography>
        <Typography variant="h4" data-testid={testId}>
          {value}
        </Typography>
      </CardContent>
    </Card>
  );
}

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;

export function Dashboard() {
  const translate = useTranslate();
  const [locale] = useLocaleState();
  const [overview, setOverview] = useState<Overview | null>(null);
  useEffect(() => {
    api<{ data: Overview }>('/admin/dashboard?days=30').then((a) => setOverview(a.body.data));
  }, []);
  if (!overview) return <Title title="ra.page.dashboard" />;
  const { revenue, members, marketing, content, failures } = overview;
  const counts = merge({ joined: members?.joined, subscribed: marketing?.subscribed, published: content?.published });
  const series = [
    members && { key: 'joined', label: translate('bx.dashboard.joined'), colour: '#1976d2' },
    marketing && { key: 'subscribed', label: translate('bx.dashboard.subscribed'), colour: '#9c27b0' },
    content && { key: 'published', label: translate('bx.dashboard.published'), colour: '#2e7d32' },
  ].filter((s): s is { key: string; label: string; colour: string } => !!s);
  const total = (days?: DayCount[]) => (days ?? []).reduce((sum, d) => sum + d.count, 0);
  return (
    <Box sx={{ mt: 2, display: 'grid', gap: 2 }}>
      <Title title="ra.page.dashboard" />
      <Typography variant="body2" color="text.secondary">
        {translate('bx.dashboard.range', { from: overview.from, to: overview.to })}
      </Typography>
      <Box sx={{ display: 'flex', gap: 2, flexWrap: 'wrap' }}>
        {content ? <Figure label={translate('bx.dashboard.scheduled')} value={content.scheduled} testId="scheduled" /> : null}
        {content ? <Figure label={translate('bx.dashboard.published')} value={total(content.published)} /> : null}
        {members ? <Figure label={translate('bx.dashboard.joined')} value={total(members.joined)} /> : null}
        {marketing ? <Figure label={translate('bx.dashboard.subscribed')} value={total(marketing.subscribed)} /> : null}
        {failures ? (
          <Figure
            label={translate('bx.dashboard.failures')}
            value={failures.webhookDeliveries + failures.mail + failures.campaignMail}
            testId="failures"
          />
        ) : null}
      </Box>
      {revenue ? (
        <Card>
          <CardHeader title={translate('bx.dashboard.revenue')} />
          <CardContent sx={{ height: 300 }}>
            <Suspense fallback={null}>
              <RevenueChart days={revenue} />
            </Suspense>
          </CardContent>
        </Card>
      ) : null}
      {series.length ? (
        <Card>
          <CardHeader title={translate('bx.dashboard.growth')} />
          <CardContent sx={{ height: 280 }}>
            <Suspense fallback={null}>
              <CountsChart data={counts} series={series} />
            </Suspense>
          </CardContent>
        </Card>
      ) : null}
      {marketing ? (
        <Card>
          <CardHeader title={translate('bx.dashboard.campaigns')} />
          <CardContent>
            <Table size="small">
              <TableHead>
                <TableRow>
                  <TableCell>{translate('bx.dashboard.campaign')}</TableCell>
                  <TableCell align="right">{translate('bx.dashboard.sent')}</TableCell>
                  <TableCell align="right">{translate('bx.dashboard.openRate')}</TableCell>
                  <TableCell align="right">{translate('bx.dashboard.clickRate')}</TableCell>
                  <TableCell>{translate('bx.dashboard.startedAt')}</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {marketing.campaigns.map((c) => (
                  <TableRow key={c.documentId}>
                    <TableCell>{c.name}</TableCell>
                    <TableCell align="right">{c.sent}</TableCell>
                    <TableCell align="right">{percent(c.openRate)}</TableCell>
                    <TableCell align="right">{percent(c.clickRate)}</TableCell>
                    <TableCell>{new Date(c.startedAt).toLocaleString(locale)}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </CardContent>
        </Card>
      ) : null}
    </Box>
  );
}
