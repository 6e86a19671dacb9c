// The one piece between Hive 4.1 and Iceberg's Hive 2/3 storage handler (iceberg-hive-runtime
// 1.4.3, org.apache.iceberg.mr.hive): Hive 4 initializes a SerDe through
// initialize(Configuration, Properties table, Properties partition) only, and Iceberg's
// HiveIcebergSerDe sets itself up (loads the table, builds its ObjectInspector) in the Hive 3
// entry point initialize(Configuration, Properties), which Hive 4 never calls. Without this,
// CREATE EXTERNAL TABLE ... STORED BY ICEBERG fails: NullPointerException "oi" is null in
// HiveMetaStoreUtils.getFieldsFromDeserializer. Everything else (input format, splits, record
// reader, object inspectors, the meta hook) is Iceberg's own code, unchanged. Hive's own Iceberg
// handler (hive-iceberg-handler, in Hive 4's binary distribution, not on Maven Central) needs
// none of this. Compiled by tests/engines/hive_iceberg_setup.py into the Hive JVM's classpath.
package dev.idbsync.hive;

import java.util.Properties;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hive.serde2.SerDeException;
import org.apache.iceberg.mr.hive.HiveIcebergSerDe;

public class Hive4IcebergSerDe extends HiveIcebergSerDe {
  @Override
  public void initialize(Configuration conf, Properties table, Properties partition) throws SerDeException {
    super.initialize(conf, table, partition);   // Hive 4's AbstractSerDe: keeps the merged properties
    initialize(conf, properties);                // Iceberg's Hive 3 entry point, with the same properties
  }
}
