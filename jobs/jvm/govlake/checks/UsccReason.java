package govlake.checks;

import org.apache.spark.sql.api.java.UDF3;

/** GB 32100 credit code: govlake_uscc_reason(value, entity types, check organisation code). */
public final class UsccReason extends EntityReason
    implements UDF3<String, String, Boolean, String> {
  private static final long serialVersionUID = 1L;

  public UsccReason() {
    super(false);
  }
}
