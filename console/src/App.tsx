import ArticleIcon from '@mui/icons-material/Article';
import CategoryIcon from '@mui/icons-material/Category';
import HistoryIcon from '@mui/icons-material/History';
import KeyIcon from '@mui/icons-material/Key';
import LocalOfferIcon from '@mui/icons-material/LocalOffer';
import PermMediaIcon from '@mui/icons-material/PermMedia';
import PeopleIcon from '@mui/icons-material/People';
import PersonIcon from '@mui/icons-material/Person';
import WebhookIcon from '@mui/icons-material/Webhook';
import InsightsIcon from '@mui/icons-material/Insights';
import ReceiptIcon from '@mui/icons-material/Receipt';
import SellIcon from '@mui/icons-material/Sell';
import ShoppingBagIcon from '@mui/icons-material/ShoppingBag';
import { Route } from 'react-router-dom';
import { Admin, CustomRoutes, Layout, Menu, Resource, usePermissions, type LayoutProps } from 'react-admin';
import { authProvider, can } from './authProvider';
import { dataProvider } from './dataProvider';
import { i18nProvider } from './i18n';
import { ArticleCreate, ArticleEdit, ArticleList } from './screens/articles';
import { RevenuePage, orders, products, promotions } from './screens/finance';
import { audit, tokens, users, webhooks } from './screens/settings';
import { authors, terms } from './screens/taxonomy';
import { LoginPage } from './screens/LoginPage';
import { UploadList } from './screens/uploads';

/** The resources the account may see, then the pages that are not resources. */
function BxMenu() {
  const { permissions } = usePermissions();
  return (
    <Menu>
      <Menu.ResourceItems />
      {can(permissions, 'payments.read') ? (
        <Menu.Item to="/revenue" primaryText="bx.menu.revenue" leftIcon={<InsightsIcon />} />
      ) : null}
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
