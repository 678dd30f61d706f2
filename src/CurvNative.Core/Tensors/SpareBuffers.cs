using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace CurvNative.Tensors;

/// <summary>
/// Buffers that closed <see cref="TensorPool{T}"/> scopes handed back, kept for the next scope on any thread (the next
/// chunk of points, the next call of the same sweep). A fresh 80 MB array costs its page faults and the kernel's
/// zeroing on every call; a spare costs neither.
/// <para>
/// The policy is <c>ArrayPool.Shared</c>'s: at most <see cref="CapacityBytes"/> (1 GiB, or an eighth of the memory the
/// GC may use if that is less); after each full collection, spares unused for a minute are dropped, and all of them
/// when the machine's memory load is high.
/// </para>
/// </summary>
internal static class SpareBuffers<T> where T : unmanaged
{
    private static readonly Lock s_lock = new();
    private static readonly List<(T[] Buffer, long LastUse)> s_spares = [];
    private static long s_bytes;

    /// <summary>The most bytes kept.</summary>
    public static readonly long CapacityBytes = Math.Min(1L << 30, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8);

    static SpareBuffers() => Gen2Trim.Register(() => Trim(TimeSpan.FromSeconds(60)));

    /// <summary>Bytes kept now.</summary>
    public static long Bytes { get { lock (s_lock) return s_bytes; } }

    /// <summary>Keeps <paramref name="buffer"/>, which nothing reads any more; the least recently kept go first when
    /// the capacity is exceeded.</summary>
    public static void Add(T[] buffer)
    {
        long size = (long)buffer.Length * Unsafe.SizeOf<T>();
        if (size > CapacityBytes) return;
        lock (s_lock)
        {
            s_spares.Add((buffer, Stopwatch.GetTimestamp()));
            s_bytes += size;
            while (s_bytes > CapacityBytes) RemoveAt(0);
        }
    }

    /// <summary>The shortest spare with at least <paramref name="length"/> and at most twice as many elements, or null.</summary>
    public static T[]? Take(int length)
    {
        lock (s_lock)
        {
            int best = -1;
            for (int i = s_spares.Count - 1; i >= 0; i--)
            {
                int l = s_spares[i].Buffer.Length;
                if (l >= length && l / 2 <= length && (best < 0 || l < s_spares[best].Buffer.Length)) best = i;
            }
            if (best < 0) return null;
            var buffer = s_spares[best].Buffer;
            RemoveAt(best);
            return buffer;
        }
    }

    /// <summary>Drops the spares unused for <paramref name="maxIdle"/>, or all of them under high memory load.</summary>
    public static void Trim(TimeSpan maxIdle)
    {
        var info = GC.GetGCMemoryInfo();
        bool pressure = info.HighMemoryLoadThresholdBytes > 0 && info.MemoryLoadBytes >= info.HighMemoryLoadThresholdBytes * 9 / 10;
        long now = Stopwatch.GetTimestamp();
        lock (s_lock)
            for (int i = s_spares.Count - 1; i >= 0; i--)
                if (pressure || Stopwatch.GetElapsedTime(s_spares[i].LastUse, now) >= maxIdle) RemoveAt(i);
    }

    private static void RemoveAt(int i)
    {
        s_bytes -= (long)s_spares[i].Buffer.Length * Unsafe.SizeOf<T>();
        s_spares.RemoveAt(i);
    }
}

/// <summary>Runs registered actions after full (generation 2) collections: an object that is finalized by each
/// collection that finds it unreachable and re-registers itself, the mechanism <c>ArrayPool.Shared</c> trims by.</summary>
internal sealed class Gen2Trim
{
    private readonly Action _action;
    private Gen2Trim(Action action) => _action = action;

    public static void Register(Action action) => _ = new Gen2Trim(action);

    ~Gen2Trim()
    {
        if (Environment.HasShutdownStarted) return;
        try { _action(); }
        catch (Exception) { /* a trim is an optimisation: never let it take down the finalizer thread */ }
        GC.ReRegisterForFinalize(this);
    }
}
