using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;
using CurvNative.Tensors;

namespace CurvNative.Solvers;

/// <summary>
/// An iterative solver of (A + λ I) x = b for a square operator A, set up once and then applied to any
/// number of right-hand sides: <see cref="Solve"/> takes b of shape [n] or B of shape [n, K]; the K systems
/// advance in lockstep with one MatMat per iteration on the columns that have not converged yet.
/// </summary>
/// <remarks>
/// Vectors are kept in double whatever T (the operator is applied in T), so inner products and updates
/// are accumulated in double. Convergence is reported only after the true residual
/// ‖b − (A + λI) x‖₂ ≤ tol ‖b‖₂ has been checked with an extra product; a column whose recursive residual
/// converged but whose true residual did not is restarted from its iterate (at most
/// <see cref="SolverOptions.MaxRestarts"/> times). Non-convergence is a status of the result, or a
/// <see cref="SolveFailedException"/> with <see cref="SolverOptions.ThrowOnFailure"/>.
/// </remarks>
/// <typeparam name="T">Element type (float or double).</typeparam>
public abstract class KrylovSolver<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private protected KrylovSolver(LinearOperator<T> op, LinearOperator<T>? preconditioner, SolverOptions? options, string method, string symmetryHint)
    {
        Checks.Symmetric(op, nameof(op), method, symmetryHint);
        if (preconditioner is not null)
        {
            Checks.SameSpace(op, preconditioner, nameof(preconditioner), $"{method} preconditioner M ≈ (A + λI)⁻¹");
            if (!preconditioner.IsSymmetric)
                throw new ArgumentException(
                    $"The {method} preconditioner must be symmetric positive definite, but {preconditioner.Describe()} is not flagged symmetric.",
                    nameof(preconditioner));
        }
        Options = options ?? new SolverOptions();
        Options.Validate();
        Operator = op;
        Preconditioner = preconditioner;
        Method = method;
    }

    /// <summary>The operator A.</summary>
    public LinearOperator<T> Operator { get; }

    /// <summary>The preconditioner M ≈ (A + λI)⁻¹ (symmetric positive definite), or null.</summary>
    public LinearOperator<T>? Preconditioner { get; }

    /// <summary>Tolerance, iteration limit, damping and failure behaviour.</summary>
    public SolverOptions Options { get; }

    private protected string Method { get; }

    /// <summary>
    /// Solves (A + λI) x = b for b of shape [n], or (A + λI) X = B column by column for B of shape [n, K].
    /// </summary>
    /// <param name="b">Right-hand side(s), finite.</param>
    /// <param name="x0">Optional initial guess of the shape of b (default zero).</param>
    /// <returns>The solution with status, iterations and true relative residual per column.</returns>
    /// <exception cref="ArgumentException">b or x0 has the wrong shape or non-finite entries.</exception>
    /// <exception cref="SolveFailedException">A column did not converge and <see cref="SolverOptions.ThrowOnFailure"/> is set.</exception>
    public SolveResult<T> Solve(Tensor<T> b, Tensor<T>? x0 = null)
    {
        int n = Operator.Columns;
        int k = Checks.RightHandSide(b, n, nameof(b));
        if (x0 is not null)
        {
            if (!x0.Shape.SequenceEqual(b.Shape))
                throw new ArgumentException($"The initial guess must have the shape of b, {Shape.Format(b.Shape)}, but has shape {Shape.Format(x0.Shape)}.", nameof(x0));
            int bad = DenseKernels.FirstNonFiniteColumn<T>(x0.Span, n, k);
            if (bad >= 0) throw new ArgumentException($"The initial guess holds NaN or infinite entries (column {bad}); expected finite values.", nameof(x0));
        }
        var s = new State(this, DenseKernels.ToDouble<T>(b.Span), x0 is null ? new double[n * k] : DenseKernels.ToDouble<T>(x0.Span), n, k, x0 is not null);
        if (n > 0 && k > 0) Run(s);
        var solution = DenseKernels.ToTensor<T>(s.X, b.ShapeArray);
        var result = new SolveResult<T>(solution, s.Status, s.Iterations, s.Residual, s.MatVecs, s.Summary(Method, Options));
        if (Options.ThrowOnFailure && !result.Converged)
            throw new SolveFailedException($"{Method} did not converge: {result.Message}", result.Status, result.Iterations, result.ResidualNorm);
        return result;
    }

    /// <summary>
    /// The inverse (A + λI)⁻¹ as a <see cref="LinearOperator{T}"/> whose product runs this solver (from a zero
    /// guess) on each column. A product throws <see cref="SolveFailedException"/> if a column does not converge,
    /// so the operator never returns an unconverged result silently. Symmetric like A.
    /// </summary>
    public LinearOperator<T> AsInverseOperator() => new SolverInverseOperator<T>(this);

    private protected abstract void Run(State s);

    /// <summary>Per-solve state shared by the methods: B, X, norms and per-column bookkeeping.</summary>
    private protected sealed class State
    {
        private readonly KrylovSolver<T> _solver;
        private readonly string[] _notes;

        public State(KrylovSolver<T> solver, double[] b, double[] x, int n, int k, bool hasGuess)
        {
            _solver = solver;
            B = b; X = x; N = n; K = k; HasGuess = hasGuess;
            BNorm = new double[k];
            Status = new SolveStatus[k];
            Iterations = new int[k];
            Residual = new double[k];
            Restarts = new int[k];
            Active = new bool[k];
            _notes = new string[k];
            var all = Enumerable.Repeat(true, k).ToArray();
            Block.Dots(b, b, n, k, all, BNorm);
            for (int c = 0; c < k; c++)
            {
                BNorm[c] = Math.Sqrt(BNorm[c]);
                if (BNorm[c] == 0)
                {
                    // b = 0: x = 0 is the exact solution whatever the guess.
                    for (int i = 0; i < n; i++) X[i * k + c] = 0;
                    _notes[c] = "b = 0, so x = 0";
                }
                else Active[c] = true;
            }
        }

        public double[] B { get; }
        public double[] X { get; }
        public int N { get; }
        public int K { get; }
        public bool HasGuess { get; }
        public double[] BNorm { get; }
        public SolveStatus[] Status { get; }
        public int[] Iterations { get; }
        public double[] Residual { get; }
        public int[] Restarts { get; }
        public bool[] Active { get; }
        public int MatVecs { get; set; }

        public double Tolerance => _solver.Options.Tolerance;
        public int MaxIterations => _solver.Options.IterationLimit(N);
        public int MaxRestarts => _solver.Options.MaxRestarts;

        /// <summary>dst[:, c] = (A + λI) x[:, c] for the given columns.</summary>
        public void ApplyOperator(double[] x, int[] cols, double[] dst)
            => MatVecs += Block.Apply(_solver.Operator, _solver.Options.Damping, x, N, K, cols, dst);

        /// <summary>dst[:, c] = M x[:, c] for the given columns (a copy when there is no preconditioner).</summary>
        public void ApplyPreconditioner(double[] x, int[] cols, double[] dst)
        {
            if (_solver.Preconditioner is null)
            {
                var mask = new bool[K];
                foreach (var c in cols) mask[c] = true;
                Block.Copy(x, dst, N, K, mask);
            }
            else Block.Apply(_solver.Preconditioner, 0, x, N, K, cols, dst);
        }

        public bool HasPreconditioner => _solver.Preconditioner is not null;

        /// <summary>r[:, c] = b − (A + λI) x for the given columns; returns ‖r‖/‖b‖ per column (indexed by column).</summary>
        public double[] TrueResidual(int[] cols, double[] r)
        {
            var ax = new double[N * K];
            ApplyOperator(X, cols, ax);
            var rel = new double[K];
            var mask = new bool[K];
            foreach (var c in cols) mask[c] = true;
            for (int i = 0; i < N; i++)
                foreach (var c in cols) r[i * K + c] = B[i * K + c] - ax[i * K + c];
            Block.Dots(r, r, N, K, mask, rel);
            foreach (var c in cols) rel[c] = Math.Sqrt(rel[c]) / BNorm[c];
            return rel;
        }

        /// <summary>Ends column c with a status, its true relative residual and an explanation.</summary>
        public void Finish(int c, SolveStatus status, double residual, string note)
        {
            Active[c] = false;
            Status[c] = status;
            Residual[c] = residual;
            _notes[c] = note;
        }

        /// <summary>Ends the active columns that have exhausted the iteration limit, with their true residual.</summary>
        public void FinishAtLimit()
        {
            var cols = Block.Indices(Active).Where(c => Iterations[c] >= MaxIterations).ToArray();
            if (cols.Length == 0) return;
            var rel = TrueResidual(cols, new double[N * K]);
            foreach (var c in cols)
                Finish(c, rel[c] <= Tolerance ? SolveStatus.Converged : SolveStatus.MaxIterations, rel[c],
                    rel[c] <= Tolerance
                        ? $"converged at the iteration limit {MaxIterations}"
                        : $"reached the iteration limit {MaxIterations} with relative residual {rel[c]:G3} > tolerance {Tolerance:G3}; raise MaxIterations, use a preconditioner or add damping");
        }

        /// <summary>Computes the true residual of the columns ended early (indefinite, breakdown) for reporting.</summary>
        public void ReportResiduals(int[] cols)
        {
            if (cols.Length == 0) return;
            var rel = TrueResidual(cols, new double[N * K]);
            foreach (var c in cols) Residual[c] = rel[c];
        }

        public string Summary(string method, SolverOptions options)
        {
            int worst = -1;
            for (int c = 0; c < K; c++) if (worst < 0 || Status[c] > Status[worst]) worst = c;
            string what = K == 1 ? "" : $" ({K} right-hand sides)";
            if (worst < 0 || Status[worst] == SolveStatus.Converged)
                return $"{method} converged{what}: relative residual {(K == 0 ? 0 : Residual.Max()):G3} <= tolerance {options.Tolerance:G3} in at most {(K == 0 ? 0 : Iterations.Max())} iterations.";
            int failing = Status.Count(s => s != SolveStatus.Converged);
            string column = K == 1 ? "" : $"column {worst} (of {failing} failing): ";
            return $"{method} {Status[worst]}{what}: {column}{_notes[worst]}.";
        }
    }
}

/// <summary>(A + λI)⁻¹ through an iterative solver; a product throws if the solve does not converge.</summary>
internal sealed class SolverInverseOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly KrylovSolver<T> _solver;

    public SolverInverseOperator(KrylovSolver<T> solver)
        : base(solver.Operator.InputSpace, solver.Operator.InputSpace, isSymmetric: true,
               isPositiveSemiDefinite: solver.Operator.IsPositiveSemiDefinite && solver.Options.Damping > 0)
        => _solver = solver;

    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        var r = _solver.Solve(x);
        if (!r.Converged)
            throw new SolveFailedException($"Applying the inverse operator failed: {r.Message}", r.Status, r.Iterations, r.ResidualNorm);
        return r.Solution;
    }
}
