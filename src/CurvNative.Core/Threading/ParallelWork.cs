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
    /// consume(i, piece(i)) for i = 0, 1, ..., count - 1 in that order, the pieces computed in parallel: workers take
    /// the next index, and whichever worker completes the oldest unconsumed piece consumes every finished piece in
    /// index order (one consumer at a time), while the others go on computing. No worker runs more than
    /// 2 x threads pieces ahead of the consumer, so at most that many results are alive at once. A reduction that
    /// consumes in index order gives the same bits for any thread count. An exception from a piece or from consume
    /// stops the pieces not yet started and is rethrown as is (the first by index when several fail).
    /// </summary>
    public static void ForEachInOrder<TResult>(int count, Func<int, TResult> piece, Action<int, TResult> consume)
    {
        int threads = Math.Min(ThreadSettings.Count, count);
        if (threads <= 1 || Interlocked.CompareExchange(ref _active, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) consume(i, piece(i));
            return;
        }
        try
        {
            var pipeline = new InOrderPipeline<TResult>(count, 2 * threads, piece, consume, GradMode.IsEnabled);
            using (NativeThreads.EnterSerial())
                System.Threading.Tasks.Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => pipeline.Work());
            pipeline.RethrowFirstFailure();
        }
        finally
        {
            Volatile.Write(ref _active, 0);
        }
    }

    /// <summary>The state of one <see cref="ForEachInOrder{TResult}"/>: a ring of finished results, the next index to
    /// hand out and the next to consume, guarded by one lock (held only to move indices, never while computing).</summary>
    private sealed class InOrderPipeline<TResult>(int count, int window, Func<int, TResult> piece, Action<int, TResult> consume, bool grad)
    {
        private readonly object _gate = new();
        private readonly TResult[] _slots = new TResult[window];
        private readonly bool[] _ready = new bool[window];
        private int _next, _consumed;
        private bool _draining;
        private Exception? _failure;
        private int _failureIndex = int.MaxValue;

        public void Work()
        {
            using var mode = grad ? GradMode.Enable() : GradMode.Disable();
            while (true)
            {
                int i;
                lock (_gate)
                {
                    while (_failure is null && _next < count && _next - _consumed >= window) Monitor.Wait(_gate);
                    if (_failure is not null || _next >= count) return;
                    i = _next++;
                }
                TResult result;
                try { result = piece(i); }
                catch (Exception e)
                {
                    Fail(i, e);
                    return;
                }
                lock (_gate)
                {
                    _slots[i % window] = result;
                    _ready[i % window] = true;
                }
                Drain();
            }
        }

        /// <summary>Consumes finished pieces in index order, unless another worker is already doing so (it will
        /// see what this one stored: both check under the lock).</summary>
        private void Drain()
        {
            while (true)
            {
                int index;
                TResult result;
                lock (_gate)
                {
                    int slot = _consumed % window;
                    if (_draining || _failure is not null || _consumed >= count || !_ready[slot]) return;
                    _draining = true;
                    index = _consumed;
                    result = _slots[slot];
                    _slots[slot] = default!;
                    _ready[slot] = false;
                }
                try { consume(index, result); }
                catch (Exception e)
                {
                    Fail(index, e);
                    return;
                }
                lock (_gate)
                {
                    _consumed++;
                    _draining = false;
                    Monitor.PulseAll(_gate);
                }
            }
        }

        private void Fail(int index, Exception e)
        {
            lock (_gate)
            {
                if (index < _failureIndex)
                {
                    _failureIndex = index;
                    _failure = e;
                }
                _draining = false;
                Monitor.PulseAll(_gate);
            }
        }

        public void RethrowFirstFailure()
        {
            if (_failure is { } first) ExceptionDispatchInfo.Capture(first).Throw();
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
