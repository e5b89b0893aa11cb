import ArticleIcon from '@mui/icons-material/Article';
import CategoryIcon from '@mui/icons-material/Category';
import HistoryIcon from '@mui/icons-material/History';
import KeyIcon from '@mui/icons-material/Key';
import LocalOfferIcon from '@mui/icons-material/LocalOffer';
import PermMediaIcon from '@mui/icons-material/PermMedia';
import AutoModeIcon from '@mui/icons-material/AutoMode';
import BlockIcon from '@mui/icons-material/Block';
import CampaignIcon from '@mui/icons-material/Campaign';
import CardMembershipIcon from '@mui/icons-material/CardMembership';
import ContactMailIcon from '@mui/icons-material/ContactMail';
import DraftsIcon from '@mui/icons-material/Drafts';
import FilterAltIcon from '@mui/icons-material/FilterAlt';
import ListAltIcon from '@mui/icons-material/ListAlt';
import PeopleIcon from '@mui/icons-material/People';
import PersonIcon from '@mui/icons-material/Person';
import WebhookIcon from '@mui/icons-material/Webhook';
import InsightsIcon from '@mui/icons-material/Insights';
import ReceiptIcon from '@mui/icons-material/Receipt';
import SellIcon from '@mui/icons-material/Sell';
import ShoppingBagIcon from '@mui/icons-material/ShoppingBag';
import { Route } from 'react-router-dom';
import { Box, ListSubheader } from '@mui/material';
import {
  Admin,
  CustomRoutes,
  Layout,
  Menu,
  Resource,
  usePermissions,
  useResourceDefinitions,
  useTranslate,
  type LayoutProps,
} from 'react-admin';
import { authProvider, can } from './authProvider';
import { dataProvider } from './dataProvider';
import { i18nProvider } from './i18n';
import { ArticleCreate, ArticleEdit, ArticleList } from './screens/articles';
import { Dashboard } from './screens/Dashboard';
import { RevenuePage, orders, products, promotions } from './screens/finance';
import { automations, campaigns, lists, segments, subscribers, suppressions, templates } from './screens/marketing';
import { members } from './screens/members';
import { audit, tokens, users, webhooks } from './screens/settings';
import { authors, terms } from './screens/taxonomy';
import { LoginPage } from './screens/LoginPage';
import { UploadList } from './screens/uploads';

const GROUPS: [string, string[]][] = [
  ['bx.menu.content', ['articles', 'authors', 'categories', 'tags', 'uploads']],
  ['bx.menu.people', ['members', 'orders', 'products', 'promotions']],
  ['bx.menu.marketing', ['subscribers', 'lists', 'segments', 'templates', 'campaigns', 'automations', 'suppressions']],
  ['bx.menu.settings', ['users', 'tokens', 'webhooks', 'audit']],
];

/** The resources the account may see, grouped as the domains are, and the revenue page. */
function BxMenu() {
  const { permissions } = usePermissions();
  const resources = useResourceDefinitions();
  const translate = useTranslate();
  return (
    <Menu>
      <Menu.DashboardItem />
      {GROUPS.map(([title, names]) => {
        const shown = names.filter((n) => resources[n]);
        if (!shown.length) return null;
        return (
          <Box key={title}>
            <ListSubheader sx={{ lineHeight: '32px', bgcolor: 'transparent' }}>{translate(title)}</ListSubheader>
            {shown.map((n) => (
              <Menu.ResourceItem key={n} name={n} />
            ))}
            {title === 'bx.menu.people' && can(permissions, 'payments.read') ? (
              <Menu.Item to="/revenue" primaryText="bx.menu.revenue" leftIcon={<InsightsIcon />} />
            ) : null}
          </Box>
        );
      })}
    </Menu>
  );
}

const BxLayout = (props: LayoutProps) => <Layout {...props} menu={BxMenu} />;

/**
 * Each resource appears only when the signed-in account's permissions (role plus
 * grants, from `GET /admin/me`) allow what it shows: an author sees content, not
 * finance or settings. The API checks every request regardless.
 */
export function App() {
  return (
    <Admin
      title="AI变现之路"
      authProvider={authProvider}
      dataProvider={dataProvider}
      i18nProvider={i18nProvider}
      loginPage={LoginPage}
      layout={BxLayout}
      dashboard={Dashboard}
      requireAuth
      disableTelemetry
    >
      {(permissions) => [
        can(permissions, 'content.read') ? (
          <Resource
            key="articles"
            name="articles"
            icon={ArticleIcon}
            list={ArticleList}
            edit={ArticleEdit}
            create={can(permissions, 'content.write-own') ? ArticleCreate : undefined}
            recordRepresentation="title"
          />
        ) : null,
        can(permissions, 'content.read') ? (
          <Resource
            key="authors"
            name="authors"
            icon={PersonIcon}
            {...(can(permissions, 'content.write') ? authors : { list: authors.list })}
            recordRepresentation="name"
          />
        ) : null,
        can(permissions, 'content.read') ? (
          <Resource
            key="categories"
            name="categories"
            icon={CategoryIcon}
            {...(can(permissions, 'content.write') ? terms : { list: terms.list })}
            recordRepresentation="name"
          />
        ) : null,
        can(permissions, 'content.read') ? (
          <Resource
            key="tags"
            name="tags"
            icon={LocalOfferIcon}
            {...(can(permissions, 'content.write') ? terms : { list: terms.list })}
            recordRepresentation="name"
          />
        ) : null,
        can(permissions, 'content.read') ? (
          <Resource key="uploads" name="uploads" icon={PermMediaIcon} list={UploadList} />
        ) : null,
        can(permissions, 'members.read') ? (
          <Resource key="members" name="members" icon={CardMembershipIcon} list={members.list} show={members.show} recordRepresentation="displayName" />
        ) : null,
        can(permissions, 'payments.read') ? (
          <Resource key="orders" name="orders" icon={ReceiptIcon} list={orders.list} show={orders.show} />
        ) : null,
        can(permissions, 'payments.read') ? (
          <Resource
            key="products"
            name="products"
            icon={ShoppingBagIcon}
            {...(can(permissions, 'payments.write') ? products : { list: products.list })}
            recordRepresentation="name"
          />
        ) : null,
        can(permissions, 'payments.read') ? (
          <Resource
            key="promotions"
            name="promotions"
            icon={SellIcon}
            {...(can(permissions, 'payments.write') ? promotions : { list: promotions.list })}
            recordRepresentation="code"
          />
        ) : null,
        can(permissions, 'payments.read') ? (
          <CustomRoutes key="finance-pages">
            <Route path="/revenue" element={<RevenuePage />} />
          </CustomRoutes>
        ) : null,
        ...marketingResources(permissions),
        can(permissions, 'staff.write') ? (
          <Resource key="users" name="users" icon={PeopleIcon} {...users} recordRepresentation="email" />
        ) : null,
        can(permissions, 'tokens.write') ? <Resource key="tokens" name="tokens" icon={KeyIcon} {...tokens} /> : null,
        can(permissions, 'webhooks.write') ? (
          <Resource key="webhooks" name="webhooks" icon={WebhookIcon} {...webhooks} recordRepresentation="name" />
        ) : null,
        can(permissions, 'audit.read') ? <Resource key="audit" name="audit" icon={HistoryIcon} {...audit} /> : null,
      ]}
    </Admin>
  );
}

/** Marketing: read with `marketing.read`, write with `marketing.write`. */
function marketingResources(permissions: unknown) {
  if (!can(permissions, 'marketing.read')) return [];
  const write = can(permissions, 'marketing.write');
  const screens = (s: { list: () => React.ReactElement; create?: () => React.ReactElement; edit?: () => React.ReactElement }) =>
    write ? s : { list: s.list };
  return [
    <Resource key="subscribers" name="subscribers" icon={ContactMailIcon} {...screens(subscribers)} recordRepresentation="email" />,
    <Resource key="lists" name="lists" icon={ListAltIcon} {...screens(lists)} recordRepresentation="name" />,
    <Resource key="segments" name="segments" icon={FilterAltIcon} {...screens(segments)} recordRepresentation="name" />,
    <Resource key="templates" name="templates" icon={DraftsIcon} {...screens(templates)} recordRepresentation="name" />,
    <Resource key="campaigns" name="campaigns" icon={CampaignIcon} {...screens(campaigns)} recordRepresentation="name" />,
    <Resource key="automations" name="automations" icon={AutoModeIcon} {...screens(automations)} recordRepresentation="name" />,
    <Resource key="suppressions" name="suppressions" icon={BlockIcon} {...screens(suppressions)} recordRepresentation="email" />,
  ];
}
