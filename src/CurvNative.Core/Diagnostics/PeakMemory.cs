namespace CurvNative.Diagnostics;

/// <summary>
/// Exact peak of live managed memory during an action, for benchmarks and memory tests (not for production
/// paths: it runs a full blocking collection at every tensor allocation, so the action becomes orders of
/// magnitude slower).
/// <para>
/// Every tensor buffer is allocated through <see cref="Tensors.Tensor{T}"/>'s factories, which call
/// <see cref="Observe"/> with the size about to be allocated. While a measurement runs, each call collects all
/// garbage and records (live managed bytes + the new buffer): the live heap can only grow at an allocation, and
/// tensor buffers are where it grows by more than a few hundred bytes, so the maximum over these events is the
/// peak working set of managed memory up to the small objects allocated since the last tensor. Native scratch
/// memory of the kernels (im2col chunks, OpenBLAS buffers) is not managed and not counted.
/// </para>
/// </summary>
public static class PeakMemory
{
    private static readonly Lock Gate = new();
    private static bool s_active;
    private static long s_peak;

    /// <summary>
    /// Runs <paramref name="action"/> once and returns its peak live managed memory in bytes above what was live
    /// before it started (so the model, the data and anything else held outside the action are excluded, and
    /// what the action returns and drops counts only while it is live). Measurements do not nest and run one at a
    /// time. Other threads (a test runner's, a logger's) can allocate during a run, which adds to its peak, and objects
    /// of theirs that were live at the baseline can die during it, which subtracts; so with <paramref name="repeats"/>
    /// &gt; 1 the action runs that many times and the median peak is returned (robust to a minority of disturbed runs).
    /// </summary>
    public static long Measure(Action action, int repeats = 1)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        lock (Gate)
        {
            if (s_active) throw new InvalidOperationException("PeakMemory.Measure does not nest.");
            var peaks = new long[repeats];
            for (int r = 0; r < repeats; r++)
            {
                long baseline = Live();
                s_peak = baseline;
                s_active = true;
                try { action(); }
                finally { s_active = false; }
                peaks[r] = Math.Max(s_peak, Live()) - baseline;
            }
            Array.Sort(peaks);
            return peaks[repeats / 2];
        }
    }

    /// <summary>Called by the tensor factories just before a buffer of <paramref name="bytes"/> is allocated
    /// (0 when wrapping an array that exists already).</summary>
    internal static void Observe(long bytes)
    {
        if (!s_active) return;
        long live = Live() + bytes;
        if (live > s_peak) s_peak = live;
    }

    // One blocking, compacting full collection; then the heap holds exactly what is reachable.
    private static long Live()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }
}
