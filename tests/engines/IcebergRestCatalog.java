// A real Apache Iceberg REST catalog for the tests (tests/lake/iceberg_rest.test.mjs): Iceberg's
// own server side (RESTCatalogAdapter + RESTCatalogServlet from the iceberg-open-api 1.10.0 jar,
// the one the apache/iceberg-rest-fixture image runs) over a JdbcCatalog in a SQLite file, bound
// to 127.0.0.1 on a free port. Iceberg's RESTCatalogServer binds every interface, hence this.
//   java -cp iceberg-open-api-1.10.0.jar IcebergRestCatalog.java WAREHOUSE SQLITE_FILE [KEY=VALUE...]
// (KEY=VALUE: more catalog properties, e.g. io-impl=org.apache.iceberg.aws.s3.S3FileIO and
// s3.endpoint=... for a warehouse on S3) prints "listening PORT" once it serves.
import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.rest.RESTCatalogAdapter;
import org.apache.iceberg.rest.RESTCatalogServlet;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

public class IcebergRestCatalog {
  public static void main(String[] args) throws Exception {
    Map<String, String> p = new HashMap<>();
    p.put(CatalogProperties.CATALOG_IMPL, JdbcCatalog.class.getName());
    p.put(CatalogProperties.URI, "jdbc:sqlite:" + args[1]);
    p.put("jdbc.schema-version", "V1");
    p.put(CatalogProperties.WAREHOUSE_LOCATION, args[0]);
    for (int i = 2; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      p.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    Catalog catalog = CatalogUtil.buildIcebergCatalog("idbsync_test", p, new Configuration());
    ServletContextHandler ctx = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    ctx.addServlet(new ServletHolder(new RESTCatalogServlet(new RESTCatalogAdapter(catalog))), "/*");
    Server server = new Server();
    ServerConnector conn = new ServerConnector(server);
    conn.setHost("127.0.0.1");
    conn.setPort(0);
    server.addConnector(conn);
    server.setHandler(ctx);
    server.start();
    System.out.println("listening " + conn.getLocalPort());
    System.out.flush();
    server.join();
  }
}
