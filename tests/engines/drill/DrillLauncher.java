// Starts an embedded Apache Drillbit (no ZooKeeper: RemoteServiceSet.getLocalServiceSet(), as
// `jdbc:drill:zk=local` does) with the drill.exec.* settings given as key=value arguments, prints
// "DRILL READY" once its REST API listens, and stops when standard input closes. Run by
// tests/engines/drill.py with `java ... DrillLauncher.java` (the JDK compiles it in memory).
import java.util.Properties;

import org.apache.drill.common.config.DrillConfig;
import org.apache.drill.exec.server.Drillbit;
import org.apache.drill.exec.server.RemoteServiceSet;

public class DrillLauncher {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    for (String kv : args) {
      int i = kv.indexOf('=');
      p.setProperty(kv.substring(0, i), kv.substring(i + 1));
    }
    DrillConfig config = DrillConfig.create(p);
    Drillbit bit = new Drillbit(config, RemoteServiceSet.getLocalServiceSet());
    bit.run();
    System.out.println("DRILL READY");
    System.out.flush();
    while (System.in.read() != -1) {
      // wait for the harness to close our stdin
    }
    bit.close();
    System.exit(0);
  }
}
