// Runs Apache Hive 4.1.0 in process for the engine tests: a session with an embedded Derby
// metastore, the local file system and the MapReduce engine in local mode (jobs run in this JVM),
// driven by Hive's Driver as HiveServer2's operations drive it (hive-service 4.1.0, HiveServer2
// itself, is not published on Maven Central). Protocol on stdin/stdout, one line each way:
// the harness sends a statement as base64 of its UTF-8 text; the answer is one JSON line
// {"ok":true,"columns":[[name,type]..],"rows":[row..]} (each row one JSON object, as Hive's
// JsonSerDe writes it) or {"ok":false,"error":".."}. Hive's own console output goes to stderr.
// usage: java ... HiveLauncher.java TMPDIR hive-site.xml [key=value ...]   (extra HiveConf settings)
import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.metastore.api.FieldSchema;
import org.apache.hadoop.hive.metastore.api.Schema;
import org.apache.hadoop.hive.ql.DriverFactory;
import org.apache.hadoop.hive.ql.IDriver;
import org.apache.hadoop.hive.ql.processors.CommandProcessor;
import org.apache.hadoop.hive.ql.processors.CommandProcessorFactory;
import org.apache.hadoop.hive.ql.session.SessionState;

public class HiveLauncher {
  public static void main(String[] args) throws Exception {
    PrintStream answers = new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
    System.setOut(System.err);
    String tmp = new File(args[0]).getAbsolutePath();
    HiveConf conf = new HiveConf(SessionState.class);
    // hive-site.xml beside this file: the settings of an embedded Hive, ${idbsync.tmp} standing
    // for TMPDIR (replaced here, so whatever copies the settings sees plain paths)
    Configuration site = new Configuration(false);
    site.addResource(new Path(new File(args[1]).getAbsolutePath()));
    for (Map.Entry<String, String> e : site) {
      conf.set(e.getKey(), e.getValue().replace("${idbsync.tmp}", tmp));
    }
    for (int i = 2; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      conf.set(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    SessionState ss = new SessionState(conf);
    SessionState.start(ss);
    answers.println("{\"ok\":true,\"ready\":\"HIVE READY\"}");

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String sql = new String(Base64.getDecoder().decode(line.trim()), StandardCharsets.UTF_8).trim();
      try {
        answers.println(run(ss.getConf(), sql));
      } catch (Throwable e) {
        e.printStackTrace();
        answers.println("{\"ok\":false,\"error\":" + quote(rootMessage(e)) + "}");
      }
    }
    ss.close();
    System.exit(0);
  }

  // A statement the way Hive's CLI dispatches it: SET/RESET/ADD/... to their processors, SQL to
  // a Driver of its own, made from the session's settings now (a Driver copies them when it is
  // made: one kept from before a SET would not see it).
  static String run(HiveConf conf, String sql) throws Exception {
    String[] tokens = sql.split("\\s+");
    CommandProcessor proc = CommandProcessorFactory.get(tokens, conf);
    if (proc != null && !(proc instanceof IDriver)) {
      proc.run(sql.substring(tokens[0].length()).trim());
      return "{\"ok\":true,\"columns\":[],\"rows\":[]}";
    }
    IDriver driver = proc instanceof IDriver ? (IDriver) proc : DriverFactory.newDriver(conf);
    try {
      return results(driver, sql);
    } finally {
      driver.close();
      driver.destroy();
    }
  }

  static String results(IDriver driver, String sql) throws Exception {
    driver.run(sql);
    StringBuilder out = new StringBuilder("{\"ok\":true,\"columns\":[");
    Schema schema = driver.getSchema();
    if (schema != null && schema.getFieldSchemas() != null) {
      String sep = "";
      for (FieldSchema f : schema.getFieldSchemas()) {
        out.append(sep).append('[').append(quote(f.getName())).append(',').append(quote(f.getType())).append(']');
        sep = ",";
      }
    }
    out.append("],\"rows\":[");
    List<Object> rows = new ArrayList<>();
    String sep = "";
    while (driver.getResults(rows)) {
      for (Object r : rows) {
        out.append(sep).append(quote(r.toString()));
        sep = ",";
      }
      rows.clear();
    }
    return out.append("]}").toString();
  }

  static String rootMessage(Throwable e) {
    StringBuilder sb = new StringBuilder(String.valueOf(e));
    for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
      sb.append("\nCaused by: ").append(c);
    }
    return sb.toString();
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }
}
