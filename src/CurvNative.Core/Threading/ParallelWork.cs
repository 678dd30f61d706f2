using System.Runtime.ExceptionServices;
using CurvNative.Autodiff;
using CurvNative.Native;

namespace CurvNative.Threading;

/// <summary>
/// Runs independent pieces of work on up to <see cref="ThreadSettings.Count"/> threads, each piece whole on one
/// thread with OpenBLAS and the native kernels at one thread (a serial section), and hands back the results by
/// index so that the caller reduces them in a fixed order: the result then does not depend on the thread count.
/// One parallel region at a time: a call made while another runs (nested, or from another thread) runs its
/// pieces on its own thread, so the cores are never oversubscribed.
/// </summary>
internal static class ParallelWork
{
    private static int _active;

    /// <summary>The number of pieces worth computing at once: the thread count, or 1 inside a running region.</summary>
    public static int Width => Volatile.Read(ref _active) != 0 ? 1 : ThreadSettings.Count;

    /// <summary>
    /// consume(i, piece(i)) for i = 0, 1, ..., count - 1 in that order, the pieces computed in parallel in waves of
    /// <see cref="Width"/> (so at most that many results are alive at once): a reduction that consumes in index
    /// order gives the same bits for any thread count.
    /// </summary>
    public static void ForEachInOrder<TResult>(int count, Func<int, TResult> piece, Action<int, TResult> consume)
    {
        int width = Math.Max(1, Width);
        for (int w = 0; w < count; w += width)
        {
            int first = w;
            var results = Map(Math.Min(width, count - w), i => piece(first + i));
            for (int i = 0; i < results.Length; i++) consume(first + i, results[i]);
        }
    }

    /// <summary>results[i] = body(i) for i in [0, count). The calling thread's gradient mode holds in the workers.
    /// An exception from a piece is rethrown as is (the first by index when several fail).</summary>
    public static TResult[] Map<TResult>(int count, Func<int, TResult> body)
    {
        var results = new TResult[count];
        int threads = Math.Min(ThreadSettings.Count, count);
        if (threads <= 1 || Interlocked.CompareExchange(ref _active, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) results[i] = body(i);
            return results;
        }
        try
        {
            bool grad = GradMode.IsEnabled;
            var failures = new Exception?[count];
            using (NativeThreads.EnterSerial())
                System.Threading.Tasks.Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
                {
                    using var mode = grad ? GradMode.Enable() : GradMode.Disable();
                    try { results[i] = body(i); }
                    catch (Exception e) { failures[i] = e; }
                });
            if (failures.FirstOrDefault(f => f is not null) is { } first) ExceptionDispatchInfo.Capture(first).Throw();
            return results;
        }
        finally
        {
            Volatile.Write(ref _active, 0);
        }
    }
}
